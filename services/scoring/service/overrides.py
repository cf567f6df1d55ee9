"""CSMs' colour overrides: set with a reason and an expiry, lapsing by themselves."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.models import ColourOverride as OverrideRow
from services.scoring.repository import overrides as repo
from services.scoring.repository import snapshots as snapshots_repo
from services.scoring.schemas.scores import OverrideIn, OverrideOut
from services.scoring.service.recompute import lock_writer, reapply_overrides
from shared.contracts import Snapshot
from shared.errors import NotScored, Unprocessable

MAX_OVERRIDE = timedelta(days=366)


async def _scored(session: AsyncSession, account_id: str) -> Snapshot:
    snapshot = await snapshots_repo.snapshot_document(session, account_id)
    if snapshot is None:
        raise NotScored(f"Account {account_id!r} has no score yet.")
    return snapshot


async def set_override(
    session: AsyncSession, account_id: str, body: OverrideIn, author: str, now: datetime
) -> Snapshot:
    """Override an account's colour until ``expires_at`` (replacing an override in force);
    the snapshot shows both colours at once, and offers hears of a change of colour."""
    await lock_writer(session)  # one override write at a time: one stays in force
    await _scored(session, account_id)
    if body.expires_at <= now:
        raise Unprocessable.for_field("/expires_at", "expires_at must be in the future.")
    if body.expires_at > now + MAX_OVERRIDE:
        raise Unprocessable.for_field(
            "/expires_at", "expires_at must be at most a year ahead: review an override yearly."
        )
    await repo.clear_overrides(session, account_id, now, author)
    await repo.add_override(
        session,
        OverrideRow(
            account_id=account_id,
            colour=body.colour,
            reason=body.reason,
            expires_at=body.expires_at,
            created_by=author,
            created_at=now,
        ),
    )
    await reapply_overrides(session, [account_id], now)
    return await _scored(session, account_id)


async def clear_override(
    session: AsyncSession, account_id: str, author: str, now: datetime
) -> Snapshot:
    """End an account's override now: its computed colour is back in force."""
    await lock_writer(session)
    await _scored(session, account_id)
    await repo.clear_overrides(session, account_id, now, author)
    await reapply_overrides(session, [account_id], now)
    return await _scored(session, account_id)


async def list_overrides(session: AsyncSession, account_id: str) -> list[OverrideOut]:
    """Every override an account has had, newest first."""
    return [
        OverrideOut.model_validate(r) for r in await repo.account_overrides(session, account_id)
    ]
