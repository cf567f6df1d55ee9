"""Native product events: ``POST /v1/events`` takes them in, ``GET /v1/events`` lists them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from services.ingest.api.deps import Reader, Settings, Writer
from services.ingest.schemas.events import EventBatchResult, StoredEventOut
from services.ingest.service import events as service
from shared.deps import Session
from shared.errors import BadRequest, PayloadTooLarge, Unprocessable, responses
from shared.json_body import JsonBodyRoute
from shared.limits import COMPRESSED, accepts_body
from shared.pagination import Page, PageRequest, paginated
from shared.validation import Instant, QueryText

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1/events", tags=["events"])
Pages = Annotated[PageRequest[service.Position], Depends(paginated(service.Position))]

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
    request: Request, session: Session, settings: Settings, _: Writer
) -> EventBatchResult:
    """Accept a batch event by event; 200 whenever the batch itself could be read."""
    body = await request.body()  # bounded by the request edge (shared.limits)
    return await service.accept_batch(session, body, settings.max_batch_events)


@router.get("", responses=responses(Unprocessable))
async def list_events(
    session: Session,
    _: Reader,
    page: Pages,
    account_id: QueryText | None = None,
    user_id: QueryText | None = None,
    name: QueryText | None = None,
    since: Annotated[Instant | None, Query(alias="from", description="Inclusive")] = None,
    until: Annotated[Instant | None, Query(alias="to", description="Exclusive")] = None,
) -> Page[StoredEventOut]:
    """The stored events of an account or a user (one is required), newest first: each with
    its source, id, and the timestamp the client sent next to the one stored (corrected)."""
    return await service.list_events(
        session, page, account_id=account_id, user_id=user_id, name=name, since=since, until=until
    )
