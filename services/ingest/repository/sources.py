"""Sources' SQL: write keys and signing secrets."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, ScalarSelect, Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.models import RejectedEvent, Source, StoredEvent, WebhookEvent


async def add_source(session: AsyncSession, source: Source) -> Source:
    """Store a new source."""
    session.add(source)
    await session.flush()
    await session.refresh(source)
    return source


async def get_source(session: AsyncSession, source_id: uuid.UUID) -> Source | None:
    """One source, or None."""
    return await session.get(Source, source_id)


async def source_by_write_key(session: AsyncSession, write_key_hash: str) -> Source | None:
    """The source a write key belongs to."""
    return await session.scalar(select(Source).where(Source.write_key_hash == write_key_hash))


async def list_sources(
    session: AsyncSession, *, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> Sequence[Source]:
    """Sources, oldest first."""
    query = select(Source).order_by(Source.created_at, Source.id).limit(limit)
    if after is not None:
        query = query.where(func.row(Source.created_at, Source.id) > func.row(*after))
    return (await session.scalars(query)).all()


async def disable_source(session: AsyncSession, source_id: uuid.UUID) -> Source | None:
    """Stop a live source's key or secret from being accepted; None when no live source has
    the id (none at all, or disabled already: the first time stands)."""
    return await session.scalar(
        update(Source)
        .where(Source.id == source_id, Source.disabled_at.is_(None))
        .values(disabled_at=func.now())
        .returning(Source)
    )


def _count_since(
    model: type[StoredEvent] | type[WebhookEvent], since: datetime
) -> ScalarSelect[int]:
    return (
        select(func.count())
        .where(model.source_id == Source.id, model.received_at >= since)
        .scalar_subquery()
    )


def _newest(model: type[StoredEvent] | type[WebhookEvent]) -> ScalarSelect[datetime]:
    # max() over an equality on the index's first column is read as one index probe.
    return select(func.max(model.received_at)).where(model.source_id == Source.id).scalar_subquery()


def _rejected_since(since: datetime) -> ScalarSelect[int]:
    # Rejections name their source by label (segment:<id>, webhook:<id>), not by id.
    labels: list[ColumnElement[str]] = [
        func.concat("segment:", Source.id),
        func.concat("webhook:", Source.id),
    ]
    return (
        select(func.count())
        .where(RejectedEvent.source.in_(labels), RejectedEvent.received_at >= since)
        .scalar_subquery()
    )


def activity_query(
    source_ids: Sequence[uuid.UUID], *, day: datetime, week: datetime
) -> Select[uuid.UUID, datetime | None, int, int, int]:
    """The one query of ``source_activity`` (its plan is tested: index range scans only).

    A Segment source's events are in ``events``, a webhook source's in ``webhook_events``:
    both are read for each, the empty side costing one index probe."""
    return select(
        Source.id,
        func.greatest(_newest(StoredEvent), _newest(WebhookEvent)),
        _count_since(StoredEvent, day) + _count_since(WebhookEvent, day),
        _count_since(StoredEvent, week) + _count_since(WebhookEvent, week),
        _rejected_since(day),
    ).where(Source.id.in_(list(source_ids)))


async def source_activity(
    session: AsyncSession, source_ids: Sequence[uuid.UUID], *, day: datetime, week: datetime
) -> dict[uuid.UUID, tuple[datetime | None, int, int, int]]:
    """Per source: (newest event's arrival, events since ``day``, since ``week``, rejections
    since ``day``), in one query whose every read is an index range scan of that source's
    own rows (events and webhook events on (source_id, received_at), rejections on
    (source, received_at))."""
    if not source_ids:
        return {}
    rows = (await session.execute(activity_query(source_ids, day=day, week=week))).all()
    return {row[0]: (row[1], int(row[2]), int(row[3]), int(row[4])) for row in rows}
