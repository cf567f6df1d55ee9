"""Rejected events, kept with their reason for inspection."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from services.ingest import repository as repo
from services.ingest.schemas import RejectedOut
from shared.auth import Principal, require
from shared.deps import Session
from shared.errors import responses
from shared.pagination import Page, PageParams, decode_cursor, encode_cursor, page_params

router = APIRouter(prefix="/v1/rejected", tags=["rejected events"])


@router.get("", responses=responses())
async def list_rejected(
    session: Session,
    _: Annotated[Principal, Depends(require("ingest:read"))],
    page: Annotated[PageParams, Depends(page_params)],
    source: str | None = None,
    reason_contains: str | None = None,
) -> Page[RejectedOut]:
    """Rejected events, oldest first, filtered by source or reason."""
    position = decode_cursor(page.cursor)
    rows = await repo.list_rejections(
        session,
        source=source,
        reason_contains=reason_contains,
        after_id=int(position[0]) if position else None,
        limit=page.limit + 1,
    )
    items = [RejectedOut.model_validate(r) for r in rows[: page.limit]]
    cursor = encode_cursor([items[-1].id]) if len(rows) > page.limit else None
    return Page(items=items, next_cursor=cursor)
