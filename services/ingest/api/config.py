"""The event map: which event names are logins, key actions, features, integrations..."""

from __future__ import annotations

from fastapi import APIRouter

from services.ingest.api.deps import Reader
from services.ingest.schemas.config import EventMapDocument, EventMapOut
from services.ingest.service import config as service
from shared.deps import Admin, Session
from shared.errors import Unprocessable, responses
from shared.json_body import JsonBodyRoute

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1/config", tags=["config"])


@router.get("/event-map", responses=responses())
async def get_event_map(session: Session, _: Reader) -> EventMapOut:
    """The event map in force."""
    return await service.get_event_map(session)


@router.put("/event-map", responses=responses(Unprocessable))
async def put_event_map(
    body: EventMapDocument,
    session: Session,
    principal: Admin,
) -> EventMapOut:
    """Store a new version of the event map; it counts events accepted from now on."""
    return await service.set_event_map(session, body, principal.name)
