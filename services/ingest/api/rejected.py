"""Rejected events, kept with their reason for inspection."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from services.ingest.repository import rejected as repo
from services.ingest.schemas import RejectedOut, ReplayFilter, ReplayOutcome, ReplayResult
from services.ingest.service import rejected as service
from services.ingest.settings import IngestSettings
from shared.auth import Principal, require
from shared.deps import Session
from shared.errors import Conflict, NotFound, Unprocessable, responses
from shared.pagination import Page, PageRequest, paginated
from shared.validation import PathSerial, Text

router = APIRouter(prefix="/v1/rejected", tags=["rejected events"])
Position = tuple[int]  # (id,)


@router.get("", responses=responses())
async def list_rejected(
    session: Session,
    _: Annotated[Principal, Depends(require("ingest:read"))],
    page: Annotated[PageRequest[Position], Depends(paginated(Position))],
    source: Text | None = None,
    reason_contains: Text | None = None,
    resolved: bool | None = None,
) -> Page[RejectedOut]:
    """Rejected events, oldest first, filtered by source, reason, or whether resolved."""
    rows = await repo.list_rejections(
        session,
        source=source,
        reason_contains=reason_contains,
        resolved=resolved,
        after_id=page.after[0] if page.after else None,
        limit=page.limit + 1,
    )
    return page.page(rows, RejectedOut.model_validate, lambda r: (r.id,))


@router.post("/replay", responses=responses(Unprocessable))
async def replay_matching(
    body: ReplayFilter,
    request: Request,
    session: Session,
    _: Annotated[Principal, Depends(require("admin"))],
) -> ReplayResult:
    """Replay unresolved rejected events matching a filter (at most ``limit``, oldest first).

    Admin only: one call may run up to 1,000 events through intake again.
    """
    settings: IngestSettings = request.app.state.settings
    return await service.replay_matching(session, body, settings.segment_max_message_bytes)


@router.post("/{rejected_id}/replay", responses=responses(NotFound, Conflict))
async def replay_one(
    rejected_id: PathSerial,
    request: Request,
    session: Session,
    _: Annotated[Principal, Depends(require("ingest:write"))],
) -> ReplayOutcome:
    """Replay one rejected event; 409 if it was resolved already."""
    settings: IngestSettings = request.app.state.settings
    return await service.replay_one(session, rejected_id, settings.segment_max_message_bytes)
