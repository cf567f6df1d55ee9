"""The event map's SQL: its versions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.models import EventMapVersion


async def latest_event_map(session: AsyncSession) -> EventMapVersion | None:
    """The event map in force, or None when none was ever set."""
    return await session.scalar(
        select(EventMapVersion).order_by(EventMapVersion.version.desc()).limit(1)
    )


async def add_event_map(
    session: AsyncSession, document: dict[str, Any], created_by: str
) -> EventMapVersion:
    """Store a new version of the event map."""
    row = EventMapVersion(document=document, created_by=created_by)
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return row
