"""Outbox administration: list pending or parked messages and retry parked ones."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from shared.deps import Admin, Session
from shared.errors import NotFound, Unprocessable, responses
from shared.json_body import JsonBodyRoute
from shared.outbox import OutboxEntry, OutboxMixin
from shared.outbox_admin import (
    ParkedFilter,
    RetryCount,
    list_entries,
    retry_parked,
    retry_parked_matching,
)
from shared.pagination import Page, PageRequest, paginated
from shared.validation import PathSerial

Position = tuple[int]  # (id,)


def outbox_router(model: type[OutboxMixin]) -> APIRouter:
    """The outbox admin endpoints for a service whose outbox table is ``model``."""
    router = APIRouter(route_class=JsonBodyRoute, prefix="/v1/outbox", tags=["outbox"])

    @router.get("", responses=responses())
    async def list_outbox(
        session: Session,
        _: Admin,
        page: Annotated[PageRequest[Position], Depends(paginated(Position))],
        parked: Annotated[bool | None, Query(description="Only parked (true) or pending")] = None,
    ) -> Page[OutboxEntry]:
        """Messages not yet acknowledged by their receiver, oldest first."""
        after = page.after[0] if page.after else None
        rows = await list_entries(
            session, model, parked=parked, after_id=after, limit=page.limit + 1
        )
        return page.page(rows, lambda r: r, lambda r: (r.id,))

    @router.post("/retry", status_code=202, responses=responses(Unprocessable))
    async def retry_matching(where: ParkedFilter, session: Session, _: Admin) -> RetryCount:
        """Put every parked message matching the filter back in line (all, given ``{}``)."""
        return await retry_parked_matching(session, model, where)

    @router.post("/{entry_id}/retry", status_code=202, responses=responses(NotFound))
    async def retry(entry_id: PathSerial, session: Session, _: Admin) -> dict[str, int]:
        """Put a parked message back in line for delivery."""
        if not await retry_parked(session, model, entry_id):
            raise NotFound(f"No parked outbox message {entry_id}.")
        return {"id": entry_id}

    return router
