"""Sources' SQL: write keys and signing secrets."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.models import Source


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
    """Stop a source's key or secret from being accepted."""
    return await session.scalar(
        update(Source)
        .where(Source.id == source_id)
        .values(disabled_at=func.coalesce(Source.disabled_at, func.now()))
        .returning(Source)
    )
