"""The event log: ``GET /v1/events``, the raw events of an account or user, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from services.ingest import service
from services.ingest.schemas import StoredEventOut
from shared.auth import Principal, require
from shared.deps import Session
from shared.errors import Unprocessable, responses
from shared.pagination import Page, PageParams, decode_cursor, page_of, page_params
from shared.validation import Instant, Text

router = APIRouter(prefix="/v1/events", tags=["events"])
Reader = Annotated[Principal, Depends(require("ingest:read"))]


@router.get("", responses=responses(Unprocessable))
async def list_events(
    session: Session,
    _: Reader,
    page: Annotated[PageParams, Depends(page_params)],
    account_id: Annotated[Text | None, Query(max_length=200)] = None,
    user_id: Annotated[Text | None, Query(max_length=200)] = None,
    name: Annotated[Text | None, Query(max_length=200)] = None,
    since: Annotated[Instant | None, Query(alias="from", description="Inclusive")] = None,
    until: Annotated[Instant | None, Query(alias="to", description="Exclusive")] = None,
) -> Page[StoredEventOut]:
    """The stored events of an account or a user (one is required), newest first: each with
    its source, id, and the timestamp the client sent next to the one stored (corrected)."""
    position = decode_cursor(page.cursor)
    before = (datetime.fromisoformat(position[0]), str(position[1])) if position else None
    rows = await service.list_events(
        session,
        account_id=account_id,
        user_id=user_id,
        name=name,
        since=since,
        until=until,
        before=before,
        limit=page.limit + 1,
    )
    return page_of(rows, page.limit, lambda r: r, lambda r: [r.timestamp.isoformat(), r.id])
