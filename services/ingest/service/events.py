"""Native product events: a batch in (``POST /v1/events``), the event log out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.domain.events import InvalidEvent, native_event
from services.ingest.models import StoredEvent
from services.ingest.repository import events as events_repo
from services.ingest.schemas.events import EventBatchResult, StoredEventOut
from services.ingest.service.intake import Parsed, accept_events, encoded_size
from shared.errors import FieldError, PayloadTooLarge, Unprocessable, check_range
from shared.json_body import parse_json
from shared.pagination import Page, PageRequest

Position = tuple[datetime, str]  # (timestamp, id), newest first


async def accept_batch(session: AsyncSession, body: bytes, max_events: int) -> EventBatchResult:
    """Read a native batch (``{"events": [...]}``, at most ``max_events``) and accept it event
    by event; only a batch that cannot be read at all is refused whole."""
    doc = parse_json(body)
    events = doc.get("events") if isinstance(doc, dict) else None
    if not isinstance(events, list):
        raise Unprocessable.for_field("/events", "must be a list of events")
    if len(events) > max_events:
        raise PayloadTooLarge(f"A batch holds at most {max_events} events.")
    now = datetime.now(UTC)
    # JSON can only carry a NUL as the escape \u0000, so most bodies need no deep check.
    check_nul = b"\\u0000" in body
    parsed = [
        parse_native(raw, index, now, check_nul=check_nul) for index, raw in enumerate(events)
    ]
    return await accept_events(session, parsed=parsed, source_label="native", source_id=None)


def parse_native(raw: Any, index: int, now: datetime, *, check_nul: bool = True) -> Parsed:
    """One native event, validated, or why it cannot be accepted."""
    try:
        encoded_size(raw, check_nul)
        return Parsed(index, raw, native_event(raw, now))
    except InvalidEvent as exc:
        return Parsed(index, raw, exc)


async def list_events(
    session: AsyncSession,
    page: PageRequest[Position],
    *,
    account_id: str | None,
    user_id: str | None,
    name: str | None,
    since: datetime | None,
    until: datetime | None,
) -> Page[StoredEventOut]:
    """The stored events of an account or a user (one is required), newest first: each with
    its source, id, and the timestamp the client sent next to the one stored (corrected)."""
    if account_id is None and user_id is None:
        raise Unprocessable(
            "Name an account or a user.",
            errors=[
                FieldError(detail="account_id or user_id is required", parameter=p)
                for p in ("account_id", "user_id")
            ],
        )
    check_range(since, until)
    rows = await events_repo.list_events(
        session,
        account_id=account_id,
        user_id=user_id,
        name=name,
        since=since,
        until=until,
        before=page.after,
        limit=page.limit + 1,
    )
    return page.page(rows, _stored_event, lambda r: (r.ts, r.id))


def _stored_event(row: StoredEvent) -> StoredEventOut:
    correction = 0.0 if row.sent_ts is None else (row.ts - row.sent_ts).total_seconds()
    return StoredEventOut(
        id=row.id,
        source_id=row.source_id,
        type=row.type,
        name=row.name,
        timestamp=row.ts,
        sent_timestamp=row.sent_ts,
        correction_seconds=correction,
        received_at=row.received_at,
        account_id=row.account_id,
        user_id=row.user_id,
        anonymous_id=row.anonymous_id,
        properties=row.properties,
    )
