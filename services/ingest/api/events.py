"""Native product events: ``POST /v1/events`` takes them in, ``GET /v1/events`` lists them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from services.ingest.schemas import EventBatchResult, StoredEventOut
from services.ingest.service import events as service
from services.ingest.settings import IngestSettings
from shared.auth import Principal, require
from shared.deps import Session
from shared.errors import BadRequest, PayloadTooLarge, Unprocessable, responses
from shared.limits import COMPRESSED, accepts_body
from shared.pagination import Page, PageRequest, paginated
from shared.service import parse_json
from shared.validation import Instant, Text

router = APIRouter(prefix="/v1/events", tags=["events"])
Writer = Annotated[Principal, Depends(require("ingest:write"))]
Reader = Annotated[Principal, Depends(require("ingest:read"))]
Position = tuple[datetime, str]  # (timestamp, id), newest first

_BATCH_EXAMPLE = {
    "events": [
        {
            "id": "evt_001",
            "account_id": "acme",
            "user_id": "u_1",
            "name": "report_created",
            "timestamp": "2026-11-20T10:00:00Z",
            "properties": {"report": "churn"},
        }
    ]
}


@router.post(
    "",
    responses=responses(BadRequest, PayloadTooLarge, Unprocessable),
    # The body is read by hand (size-limited, event by event), so it is described here.
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["events"],
                        "properties": {"events": {"type": "array", "maxItems": 1000}},
                    },
                    "example": _BATCH_EXAMPLE,
                }
            },
        }
    },
)
@accepts_body("max_batch_bytes", encodings=COMPRESSED)
async def post_events(
    request: Request,
    session: Session,
    _: Writer,
) -> EventBatchResult:
    """Accept a batch event by event; 200 whenever the batch itself could be read."""
    settings: IngestSettings = request.app.state.settings
    body = await request.body()  # bounded by the request edge (shared.limits)
    doc = parse_json(body)
    events = doc.get("events") if isinstance(doc, dict) else None
    if not isinstance(events, list):
        raise Unprocessable.for_field("/events", "must be a list of events")
    if len(events) > settings.max_batch_events:
        raise PayloadTooLarge(f"A batch holds at most {settings.max_batch_events} events.")
    now = datetime.now(UTC)
    # JSON can only carry a NUL as the escape \u0000, so most bodies need no deep check.
    check_nul = b"\\u0000" in body
    parsed = [
        service.parse_native(raw, index, now, check_nul=check_nul)
        for index, raw in enumerate(events)
    ]
    return await service.accept_events(
        session, parsed=parsed, source_label="native", source_id=None
    )


@router.get("", responses=responses(Unprocessable))
async def list_events(
    session: Session,
    _: Reader,
    page: Annotated[PageRequest[Position], Depends(paginated(Position))],
    account_id: Annotated[Text | None, Query(max_length=200)] = None,
    user_id: Annotated[Text | None, Query(max_length=200)] = None,
    name: Annotated[Text | None, Query(max_length=200)] = None,
    since: Annotated[Instant | None, Query(alias="from", description="Inclusive")] = None,
    until: Annotated[Instant | None, Query(alias="to", description="Exclusive")] = None,
) -> Page[StoredEventOut]:
    """The stored events of an account or a user (one is required), newest first: each with
    its source, id, and the timestamp the client sent next to the one stored (corrected)."""
    rows = await service.list_events(
        session,
        account_id=account_id,
        user_id=user_id,
        name=name,
        since=since,
        until=until,
        before=page.after,
        limit=page.limit + 1,
    )
    return page.page(rows, lambda r: r, lambda r: (r.timestamp, r.id))
