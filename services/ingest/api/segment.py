"""Segment HTTP Tracking API compatibility: existing analytics SDKs point here unchanged."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request

from services.ingest import repository as repo
from services.ingest import service
from services.ingest.domain.events import InvalidEvent, parse_timestamp
from services.ingest.models import Source
from services.ingest.schemas import SegmentResult
from services.ingest.settings import IngestSettings
from shared.auth import hash_key
from shared.deps import Session
from shared.errors import Unauthorized, Unprocessable
from shared.limits import accepts_body
from shared.service import parse_json

router = APIRouter(prefix="/v1", tags=["segment"])
_SEGMENT_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"description": title, "content": {"application/problem+json": {}}}
    for code, title in ((400, "Bad Request"), (401, "Unknown write key"), (413, "Too large"))
}
_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


def _write_key(request: Request, doc: dict[str, Any]) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic" and value:
        try:
            user, _, _ = base64.b64decode(value).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user or None
    key = doc.get("writeKey")
    return key if isinstance(key, str) and key else None


async def _source(session: Session, request: Request, doc: dict[str, Any]) -> Source:
    key = _write_key(request, doc)
    if key is None:
        raise Unauthorized("A write key is required (HTTP Basic username, or writeKey).")
    source = await repo.source_by_write_key(session, hash_key(key))
    if source is None or source.kind != "segment":
        raise Unauthorized("The write key is not known.")
    if source.disabled_at is not None:
        raise Unauthorized("The source of this write key is disabled.")
    return source


async def _accept(
    request: Request, session: Session, default_type: str | None, *, batch: bool
) -> SegmentResult:
    settings: IngestSettings = request.app.state.settings
    body = await request.body()  # bounded by the request edge (shared.limits)
    doc = parse_json(body)
    if not isinstance(doc, dict):
        raise Unprocessable.for_field("", "must be a JSON object")
    source = await _source(session, request, doc)
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
    result = await service.accept_events(
        session, parsed=parsed, source_label=f"segment:{source.id}", source_id=source.id
    )
    return SegmentResult(**result.model_dump())


@router.post("/batch", responses=_SEGMENT_ERRORS, openapi_extra=_BODY_DOC)
@accepts_body("segment_max_batch_bytes")
async def segment_batch(request: Request, session: Session) -> SegmentResult:
    """Segment ``/v1/batch``: up to 500 KB of messages, each at most 32 KB."""
    return await _accept(request, session, None, batch=True)


def _single(kind: str) -> Any:
    @accepts_body("segment_max_message_bytes")
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
