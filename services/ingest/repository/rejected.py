"""Rejected events' SQL: kept with their reason, listed, locked for replay."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.models import RejectedEvent


async def insert_rejections(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Keep refused events with their reason and raw body."""
    if rows:
        await session.execute(insert(RejectedEvent).values(list(rows)))


async def list_rejections(
    session: AsyncSession,
    *,
    source: str | None,
    reason_contains: str | None,
    resolved: bool | None = None,
    after_id: int | None = None,
    limit: int,
    for_replay: bool = False,
) -> Sequence[RejectedEvent]:
    """Kept rejected events, oldest first.

    ``for_replay`` locks the rows, skipping those another replay holds, so two replays
    never run the same event.
    """
    query = select(RejectedEvent).order_by(RejectedEvent.id).limit(limit)
    if resolved is not None:
        query = query.where(
            RejectedEvent.resolved_at.is_not(None)
            if resolved
            else RejectedEvent.resolved_at.is_(None)
        )
    if for_replay:
        query = query.with_for_update(skip_locked=True)
    if source is not None:
        query = query.where(RejectedEvent.source == source)
    if reason_contains is not None:
        # Literal text: % and _ in it match themselves, not any text.
        query = query.where(RejectedEvent.reason.contains(reason_contains, autoescape=True))
    if after_id is not None:
        query = query.where(RejectedEvent.id > after_id)
    return (await session.scalars(query)).all()


async def rejection_for_replay(session: AsyncSession, rejected_id: int) -> RejectedEvent | None:
    """One kept rejected event, locked for replay."""
    return await session.scalar(
        select(RejectedEvent).where(RejectedEvent.id == rejected_id).with_for_update()
    )
