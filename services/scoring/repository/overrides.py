"""CSMs' colour overrides."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.models import ColourOverride
from shared.contracts import ColourOverride as Override


async def add_override(session: AsyncSession, row: ColourOverride) -> ColourOverride:
    """Store a new override."""
    session.add(row)
    await session.flush()
    return row


async def overrides_in_force(
    session: AsyncSession, account_ids: Sequence[str], now: datetime
) -> dict[str, Override]:
    """Each account's newest override still in force (not expired, not cleared), as its
    snapshot shows it."""
    if not account_ids:
        return {}
    rows = await session.scalars(
        select(ColourOverride)
        .where(
            ColourOverride.account_id.in_(list(account_ids)),
            ColourOverride.expires_at > now,
            ColourOverride.cleared_at.is_(None),
        )
        .ext(distinct_on(ColourOverride.account_id))
        .order_by(ColourOverride.account_id, ColourOverride.created_at.desc())
    )
    return {
        r.account_id: Override(
            colour=r.colour,
            reason=r.reason,
            expires_at=r.expires_at,
            created_by=r.created_by,
            created_at=r.created_at,
        )
        for r in rows
    }


async def clear_overrides(session: AsyncSession, account_id: str, now: datetime, by: str) -> int:
    """End every override of an account in force now; how many there were."""
    result = await session.execute(
        update(ColourOverride)
        .where(
            ColourOverride.account_id == account_id,
            ColourOverride.expires_at > now,
            ColourOverride.cleared_at.is_(None),
        )
        .values(cleared_at=now, cleared_by=by)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def account_overrides(session: AsyncSession, account_id: str) -> Sequence[ColourOverride]:
    """Every override an account has had, newest first."""
    rows = await session.scalars(
        select(ColourOverride)
        .where(ColourOverride.account_id == account_id)
        .order_by(ColourOverride.created_at.desc(), ColourOverride.id.desc())
    )
    return rows.all()
