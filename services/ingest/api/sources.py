"""Event sources: Segment write keys and webhook signing secrets."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends

from services.ingest.repository import sources as repo
from services.ingest.schemas import SourceCreate, SourceOut, SourceWithSecret
from services.ingest.service import sources as service
from shared.auth import Principal, require
from shared.deps import Session
from shared.errors import Conflict, NotFound, Unprocessable, responses
from shared.pagination import Page, PageRequest, paginated

router = APIRouter(prefix="/v1/sources", tags=["sources"])
Admin = Annotated[Principal, Depends(require("admin"))]
Position = tuple[datetime, uuid.UUID]  # (created_at, id)


@router.post("", status_code=201, responses=responses(Unprocessable))
async def create_source(body: SourceCreate, session: Session, _: Admin) -> SourceWithSecret:
    """Create a source; its write key or signing secret is in this response only."""
    return await service.create_source(session, body)


@router.get("", responses=responses())
async def list_sources(
    session: Session, _: Admin, page: Annotated[PageRequest[Position], Depends(paginated(Position))]
) -> Page[SourceOut]:
    """Every source, oldest first."""
    rows = await repo.list_sources(session, after=page.after, limit=page.limit + 1)
    return page.page(rows, SourceOut.model_validate, lambda r: (r.created_at, r.id))


@router.post("/{source_id}/rotate", responses=responses(NotFound, Conflict))
async def rotate_source(source_id: uuid.UUID, session: Session, _: Admin) -> SourceWithSecret:
    """Issue a new write key or signing secret (shown once)."""
    return await service.rotate_source(session, source_id)


@router.post("/{source_id}/disable", responses=responses(NotFound))
async def disable_source(source_id: uuid.UUID, session: Session, _: Admin) -> SourceOut:
    """Stop accepting anything from this source."""
    return await service.disable_source(session, source_id)
