"""Rejected events, kept with their reason for inspection."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from services.ingest.api.deps import Reader, Settings, Writer
from services.ingest.schemas.rejected import RejectedOut, ReplayFilter, ReplayOutcome, ReplayResult
from services.ingest.service import rejected as service
from shared.deps import Admin, Session
from shared.errors import Conflict, NotFound, Unprocessable, responses
from shared.json_body import JsonBodyRoute
from shared.pagination import Page, PageRequest, paginated
from shared.validation import PathSerial, QueryText

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1/rejected", tags=["rejected events"])
Pages = Annotated[PageRequest[service.Position], Depends(paginated(service.Position))]


@router.get("", responses=responses())
async def list_rejected(
    session: Session,
    _: Reader,
    page: Pages,
    source: QueryText | None = None,
    reason_contains: QueryText | None = None,
    resolved: bool | None = None,
) -> Page[RejectedOut]:
    """Rejected events, oldest first, filtered by source, reason, or whether resolved."""
    return await service.list_rejected(
        session, page, source=source, reason_contains=reason_contains, resolved=resolved
    )


@router.post("/replay", responses=responses(Unprocessable))
async def replay_matching(
    body: ReplayFilter, session: Session, settings: Settings, principal: Admin
) -> ReplayResult:
    """Replay unresolved rejected events matching a filter (at most ``limit``, oldest first).

    Admin only: one call may run up to 1,000 events through intake again.
    """
    return await service.replay_matching(
        session, body, settings.segment_max_message_bytes, principal.name
    )


@router.post("/{rejected_id}/replay", responses=responses(NotFound, Conflict))
async def replay_one(
    rejected_id: PathSerial, session: Session, settings: Settings, principal: Writer
) -> ReplayOutcome:
    """Replay one rejected event; 409 if it was resolved already."""
    return await service.replay_one(
        session, rejected_id, settings.segment_max_message_bytes, principal.name
    )
