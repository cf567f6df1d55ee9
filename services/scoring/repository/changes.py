"""The queue of accounts to rescore: marked by notifications, drained by the worker."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.models import AccountChange


async def record_changes(session: AsyncSession, counts: Counter[str]) -> None:
    """Mark accounts as changed (to be rescored), counting how often they were named."""
    if not counts:
        return
    ids = sorted(counts)  # one lock order for concurrent receivers
    stmt = insert(AccountChange).values([{"account_id": i, "changes": counts[i]} for i in ids])
    stmt = stmt.on_conflict_do_update(
        index_elements=[AccountChange.account_id],
        set_={
            "last_changed_at": func.now(),
            "changes": AccountChange.changes + stmt.excluded.changes,
        },
    )
    await session.execute(stmt)


async def pending_changes(
    session: AsyncSession, *, after: str | None, limit: int
) -> Sequence[AccountChange]:
    """Accounts waiting to be rescored, by id."""
    query = select(AccountChange).order_by(AccountChange.account_id).limit(limit)
    if after is not None:
        query = query.where(AccountChange.account_id > after)
    return (await session.scalars(query)).all()


async def oldest_changes(session: AsyncSession, limit: int) -> Sequence[AccountChange]:
    """The accounts that have waited longest, to rescore next."""
    query = select(AccountChange).order_by(AccountChange.first_changed_at).limit(limit)
    return (await session.scalars(query)).all()


async def forget_changes(session: AsyncSession, seen: Sequence[tuple[str, datetime]]) -> None:
    """Drop the changes a batch rescored: only those not marked again since it read them (a
    later mark keeps the account queued, so the change it announces is scored too)."""
    if seen:
        await session.execute(
            delete(AccountChange).where(
                tuple_(AccountChange.account_id, AccountChange.last_changed_at).in_(list(seen))
            )
        )
