"""The snapshots scoring announced, newest per account."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.offers.models import AccountSnapshot
from shared.arrays import text_array


async def keep_newest(
    session: AsyncSession, rows: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Store each account's snapshot unless one as new or newer is already kept;
    returns the rows stored (one per account, the newest of ``rows``)."""
    if not rows:
        return []
    # One row per account (the newest), in key order so concurrent receivers lock alike.
    newest: dict[str, dict[str, Any]] = {}
    for row in rows:
        kept = newest.get(row["account_id"])
        if kept is None or kept["computed_at"] <= row["computed_at"]:
            newest[row["account_id"]] = row
    stmt = insert(AccountSnapshot).values([newest[k] for k in sorted(newest)])
    stored = await session.scalars(
        stmt.on_conflict_do_update(
            index_elements=[AccountSnapshot.account_id],
            set_={
                "computed_at": stmt.excluded.computed_at,
                "snapshot": stmt.excluded.snapshot,
                "changes": stmt.excluded.changes,
                "message_id": stmt.excluded.message_id,
                "received_at": stmt.excluded.received_at,
            },
            # Strictly newer: the same snapshot again (redelivered under a new id) is not
            # kept again, so it is not decided again.
            where=AccountSnapshot.computed_at < stmt.excluded.computed_at,
        ).returning(AccountSnapshot.account_id)
    )
    return [newest[account_id] for account_id in stored]


async def get_snapshot(session: AsyncSession, account_id: str) -> AccountSnapshot | None:
    """The newest snapshot kept for an account."""
    return await session.get(AccountSnapshot, account_id)


def snapshot_row(
    account_id: str,
    computed_at: datetime,
    snapshot: dict[str, Any],
    changes: list[str],
    message_id: uuid.UUID,
    received_at: datetime,
) -> dict[str, Any]:
    """The values of one kept snapshot."""
    return {
        "account_id": account_id,
        "computed_at": computed_at,
        "snapshot": snapshot,
        "changes": changes,
        "message_id": message_id,
        "received_at": received_at,
    }


async def list_snapshots(
    session: AsyncSession, *, after: str | None, limit: int
) -> Sequence[AccountSnapshot]:
    """Kept snapshots by account id."""
    query = select(AccountSnapshot).order_by(AccountSnapshot.account_id).limit(limit)
    if after is not None:
        query = query.where(AccountSnapshot.account_id > after)
    return (await session.scalars(query)).all()


async def snapshots_of(session: AsyncSession, account_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The kept snapshots of these accounts (as stored), by account id."""
    rows = await session.scalars(
        select(AccountSnapshot.snapshot)
        .where(AccountSnapshot.account_id == func.any(text_array(sorted(set(account_ids)))))
        .order_by(AccountSnapshot.account_id)
    )
    return list(rows)


async def snapshot_page(
    session: AsyncSession, *, after: str | None, limit: int
) -> list[dict[str, Any]]:
    """Up to ``limit`` kept snapshots (as stored) by account id, after ``after``."""
    query = select(AccountSnapshot.snapshot).order_by(AccountSnapshot.account_id).limit(limit)
    if after is not None:
        query = query.where(AccountSnapshot.account_id > after)
    return list(await session.scalars(query))
