"""The Segment Tracking API: a call's write key, its messages, and taking them in."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.domain.events import Event, InvalidEvent, parse_timestamp, segment_event
from services.ingest.models import Source
from services.ingest.repository import sources as sources_repo
from services.ingest.schemas.segment import SegmentResult
from services.ingest.service.intake import Parsed, accept_events, encoded_size
from shared.auth import hash_key
from shared.errors import Unauthorized, Unprocessable
from shared.json_body import parse_json
from shared.ratelimit import RateLimiter


def parse_segment(
    raw: Any,
    index: int,
    *,
    default_type: str | None,
    received_at: datetime,
    batch_sent_at: datetime | None,
    max_message_bytes: int,
    check_nul: bool = True,
) -> Parsed:
    """One Segment message, validated (with clock-skew correction), or why not.

    ``default_type`` is the type of the single-call endpoint it came to (None for a batch).
    """
    outcome: Event | InvalidEvent
    try:
        if encoded_size(raw, check_nul) > max_message_bytes:
            raise InvalidEvent("", f"message is larger than {max_message_bytes // 1024} KB")
        outcome = segment_event(
            raw, default_type=default_type, received_at=received_at, batch_sent_at=batch_sent_at
        )
    except InvalidEvent as exc:
        outcome = exc
    return Parsed(index, raw, outcome, default_type or "batch", batch_sent_at)


def _is_basic(authorization: str | None) -> bool:
    return (authorization or "").partition(" ")[0].lower() == "basic"


def _header_write_key(authorization: str | None) -> str | None:
    """The write key a Segment call sends as its HTTP Basic username, if it is readable."""
    value = (authorization or "").partition(" ")[2]
    try:
        user, _, _ = base64.b64decode(value).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user or None


def _body_write_key(doc: dict[str, Any]) -> str | None:
    """The write key a Segment call sends in its body (``writeKey``)."""
    key = doc.get("writeKey")
    return key if isinstance(key, str) and key else None


async def _segment_source(session: AsyncSession, key: str | None, limiter: RateLimiter) -> Source:
    """The live Segment source of a write key (a 401 if none), within its rate limit (a 429
    if not)."""
    if key is None:
        raise Unauthorized("A write key is required (HTTP Basic username, or writeKey).")
    source = await sources_repo.source_by_write_key(session, hash_key(key))
    if source is None or source.kind != "segment":
        raise Unauthorized("The write key is not known.")
    if source.disabled_at is not None:
        raise Unauthorized("The source of this write key is disabled.")
    limiter.take(f"source:{source.id}", "segment")
    return source


async def accept_call(
    session: AsyncSession,
    read_body: Callable[[], Awaitable[bytes]],
    *,
    authorization: str | None,
    limiter: RateLimiter,
    default_type: str | None,
    max_message_bytes: int,
) -> SegmentResult:
    """Take in one Tracking API call: a ``/v1/batch`` body (``default_type`` None) or one
    message of the single-call endpoint of that type, each message on its own.

    The write key is checked (and the source's rate limit taken) before any message is read;
    a key sent as HTTP Basic, before the body is (an unknown one is a 401 at once). Only a call
    whose key is in its body (``writeKey``) has its body read first.
    """
    source = None
    if _is_basic(authorization):
        source = await _segment_source(session, _header_write_key(authorization), limiter)
    body = await read_body()
    doc = parse_json(body)
    if not isinstance(doc, dict):
        raise Unprocessable.for_field("", "must be a JSON object")
    if source is None:
        source = await _segment_source(session, _body_write_key(doc), limiter)
    received_at = datetime.now(UTC)
    batch_sent_at = None
    if default_type is None:
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
        parse_segment(
            raw,
            index,
            default_type=default_type,
            received_at=received_at,
            batch_sent_at=batch_sent_at,
            max_message_bytes=max_message_bytes,
            check_nul=check_nul,
        )
        for index, raw in enumerate(messages)
    ]
    result = await accept_events(
        session, parsed=parsed, source_label=f"segment:{source.id}", source_id=source.id
    )
    return SegmentResult(**result.model_dump())
