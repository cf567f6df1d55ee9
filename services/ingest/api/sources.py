"""Event sources: Segment write keys and webhook signing secrets."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from services.ingest.schemas.sources import (
    SourceCreate,
    SourceListed,
    SourceOut,
    SourceWithSecret,
)
from services.ingest.service import sources as service
from shared.deps import Admin, Session
from shared.errors import Conflict, NotFound, Unprocessable, responses
from shared.json_body import JsonBodyRoute
from shared.pagination import Page, PageRequest, paginated

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1/sources", tags=["sources"])
Pages = Annotated[PageRequest[service.Position], Depends(paginated(service.Position))]


@router.post("", status_code=201, responses=responses(Unprocessable))
async def create_source(body: SourceCreate, session: Session, principal: Admin) -> SourceWithSecret:
    """Create a source; its write key or signing secret is in this response only."""
    return await service.create_source(session, body, principal.name)


@router.get("", responses=responses())
async def list_sources(session: Session, _: Admin, page: Pages) -> Page[SourceListed]:
    """Every source, oldest first, with when its newest event arrived and how many events it
    sent in the last 24 hours and 7 days, and how many of its events were refused in the
    last 24 hours."""
    return await service.list_sources(session, page)


@router.post("/{source_id}/rotate", responses=responses(NotFound, Conflict))
async def rotate_source(
    source_id: uuid.UUID, session: Session, principal: Admin
) -> SourceWithSecret:
    """Issue a new write key or signing secret (shown once)."""
    return await service.rotate_source(session, source_id, principal.name)


@router.post("/{source_id}/disable", responses=responses(NotFound))
async def disable_source(source_id: uuid.UUID, session: Session, principal: Admin) -> SourceOut:
    """Stop accepting anything from this source."""
    return await service.disable_source(session, source_id, principal.name)
