"""Scoring's SQL. Functions run on the caller's session; none commits."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from sqlalchemy import func, select
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
