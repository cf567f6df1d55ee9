"""The event map: which event names count for what."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.domain.rollups import DEFAULT_EVENT_MAP, EventMap
from services.ingest.repository import config as config_repo
from services.ingest.schemas.config import EventMapDocument, EventMapOut
from services.ingest.service.audit import record


async def current_event_map(session: AsyncSession) -> EventMap:
    """The event map in force (the built-in default until one is set)."""
    return (await event_map_in_force(session))[1]


async def event_map_in_force(session: AsyncSession) -> tuple[int, EventMap]:
    """The version of the event map in force (0 for the built-in default) and the map,
    read together (two reads could straddle a new version)."""
    row = await config_repo.latest_event_map(session)
    if row is None:
        return 0, DEFAULT_EVENT_MAP
    return row.version, EventMap.from_document(row.document)


async def get_event_map(session: AsyncSession) -> EventMapOut:
    """The event map in force, with its version (0 for the built-in default)."""
    row = await config_repo.latest_event_map(session)
    if row is None:
        return EventMapOut(
            **DEFAULT_EVENT_MAP.to_document(), version=0, created_at=None, created_by="default"
        )
    return EventMapOut(
        **row.document, version=row.version, created_at=row.created_at, created_by=row.created_by
    )


async def set_event_map(
    session: AsyncSession, body: EventMapDocument, created_by: str
) -> EventMapOut:
    """Store a new event map version; it applies to events accepted from now on."""
    document = EventMap.from_document(body.model_dump()).to_document()
    row = await config_repo.add_event_map(session, document, created_by)
    subject = f"event map v{row.version}"
    record(session, created_by, "event_map.changed", subject, {"version": row.version})
    return EventMapOut(
        **row.document, version=row.version, created_at=row.created_at, created_by=row.created_by
    )
