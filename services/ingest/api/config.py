"""The event map: which event names are logins, key actions, features, integrations..."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from services.ingest.schemas import EventMapDocument, EventMapOut
from services.ingest.service import config as service
from shared.auth import Principal, require
from shared.deps import Session
from shared.errors import Unprocessable, responses

router = APIRouter(prefix="/v1/config", tags=["config"])


@router.get("/event-map", responses=responses())
async def get_event_map(
    session: Session, _: Annotated[Principal, Depends(require("ingest:read"))]
) -> EventMapOut:
    """The event map in force."""
    return await service.get_event_map(session)


@router.put("/event-map", responses=responses(Unprocessable))
async def put_event_map(
    body: EventMapDocument,
    session: Session,
    principal: Annotated[Principal, Depends(require("admin"))],
) -> EventMapOut:
    """Store a new version of the event map; it counts events accepted from now on."""
    return await service.set_event_map(session, body, principal.name)
