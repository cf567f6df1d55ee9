"""Native product events: ``POST /v1/events``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from services.ingest import service
from services.ingest.schemas import EventBatchResult
from services.ingest.settings import IngestSettings
from shared.auth import Principal, require
from shared.deps import Session
from shared.errors import BadRequest, PayloadTooLarge, Unprocessable, responses
from shared.limits import COMPRESSED, accepts_body
from shared.service import parse_json

router = APIRouter(prefix="/v1/events", tags=["events"])
Writer = Annotated[Principal, Depends(require("ingest:write"))]

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
