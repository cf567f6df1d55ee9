"""Segment HTTP Tracking API compatibility: existing analytics SDKs point here unchanged."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request

from services.ingest.domain.events import InvalidEvent, parse_timestamp
from services.ingest.schemas import SegmentResult
from services.ingest.service import events as events_service
from services.ingest.service import segment as service
from services.ingest.settings import IngestSettings
from shared.deps import Session
from shared.errors import Unprocessable
from shared.limits import COMPRESSED, accepts_body
from shared.service import parse_json

router = APIRouter(prefix="/v1", tags=["segment"])
_SEGMENT_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"description": title, "content": {"application/problem+json": {}}}
    for code, title in (
        (400, "Bad Request (or a corrupt compressed body)"),
        (401, "Unknown write key"),
        (413, "Too large (inflated size, when compressed)"),
        (415, "Content-Encoding other than gzip or deflate"),
        (429, "Too many requests from this source (Retry-After says when to retry)"),
    )
}
_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


async def _accept(
    request: Request, session: Session, default_type: str | None, *, batch: bool
) -> SegmentResult:
    settings: IngestSettings = request.app.state.settings
    body = await request.body()  # bounded by the request edge (shared.limits)
    doc = parse_json(body)
    if not isinstance(doc, dict):
        raise Unprocessable.for_field("", "must be a JSON object")
    source = await service.segment_source(
        session, request.headers.get("authorization"), doc, request.app.state.rate_limiter
    )
    received_at = datetime.now(UTC)
    batch_sent_at = None
    if batch:
        messages = doc.get("batch")
        if not isinstance(messages, list):
            raise Unprocessable.for_field("/batch", "must be a list of messages")
        if doc.get("sentAt") is not None:
            try:
                batch_sent_at = parse_timestamp(doc["sentAt"], "sentAt")
            except InvalidEvent as exc:
                raise Unprocessable.for_field("/sentAt", exc.reason) from exc
    else:
        messages = [doc]
    check_nul = b"\\u0000" in body  # JSON carries a NUL only as this escape
    parsed = [
        service.parse_segment(
            raw,
            index,
            default_type=default_type,
            received_at=received_at,
            batch_sent_at=batch_sent_at,
            max_message_bytes=settings.segment_max_message_bytes,
            check_nul=check_nul,
        )
        for index, raw in enumerate(messages)
    ]
    result = await events_service.accept_events(
        session, parsed=parsed, source_label=f"segment:{source.id}", source_id=source.id
    )
    return SegmentResult(**result.model_dump())


@router.post("/batch", responses=_SEGMENT_ERRORS, openapi_extra=_BODY_DOC)
@accepts_body("segment_max_batch_bytes", encodings=COMPRESSED, sdk_errors=True)
async def segment_batch(request: Request, session: Session) -> SegmentResult:
    """Segment ``/v1/batch``: up to 500 KB of messages, each at most 32 KB."""
    return await _accept(request, session, None, batch=True)


def _single(kind: str) -> Any:
    @accepts_body("segment_max_message_bytes", encodings=COMPRESSED, sdk_errors=True)
    async def endpoint(request: Request, session: Session) -> SegmentResult:
        return await _accept(request, session, kind, batch=False)

    endpoint.__name__ = f"segment_{kind}"
    endpoint.__doc__ = f"Segment ``/v1/{kind}``: one {kind} message, at most 32 KB."
    return endpoint


for _kind in ("track", "identify", "group", "page", "screen", "alias"):
    router.add_api_route(
        f"/{_kind}",
        _single(_kind),
        methods=["POST"],
        responses=_SEGMENT_ERRORS,
        openapi_extra=_BODY_DOC,
    )
