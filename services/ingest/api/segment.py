"""Segment HTTP Tracking API compatibility: existing analytics SDKs point here unchanged."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from services.ingest.api.deps import Settings
from services.ingest.schemas.segment import SegmentResult
from services.ingest.service import segment as service
from services.ingest.settings import IngestSettings
from shared.deps import Session
from shared.json_body import JsonBodyRoute
from shared.limits import COMPRESSED, accepts_body

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1", tags=["segment"])
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
    request: Request, session: Session, settings: IngestSettings, default_type: str | None
) -> SegmentResult:
    return await service.accept_call(
        session,
        request.body,  # bounded by the request edge (shared.limits); read after a Basic key
        authorization=request.headers.get("authorization"),
        limiter=request.app.state.rate_limiter,
        default_type=default_type,
        max_message_bytes=settings.segment_max_message_bytes,
    )


@router.post("/batch", responses=_SEGMENT_ERRORS, openapi_extra=_BODY_DOC)
@accepts_body("segment_max_batch_bytes", encodings=COMPRESSED, sdk_errors=True)
async def segment_batch(request: Request, session: Session, settings: Settings) -> SegmentResult:
    """Segment ``/v1/batch``: up to 500 KB of messages, each at most 32 KB."""
    return await _accept(request, session, settings, None)


def _single(kind: str) -> Any:
    @accepts_body("segment_max_message_bytes", encodings=COMPRESSED, sdk_errors=True)
    async def endpoint(request: Request, session: Session, settings: Settings) -> SegmentResult:
        return await _accept(request, session, settings, kind)

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
