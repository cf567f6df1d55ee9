"""``GET /v1/audit``: a service's changes of state, newest first (the console merges them).

No ``from __future__ import annotations`` here: the endpoint's annotations hold the
factory's own dependencies, which FastAPI must see as objects, not as names to look up.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from shared.audit import AuditFilter
from shared.auth import Principal, require
from shared.contracts import AuditEntry
from shared.deps import Session
from shared.errors import Unprocessable, responses
from shared.json_body import JsonBodyRoute
from shared.pagination import Page, PageRequest, paginated
from shared.validation import Instant, QueryText

ListAudit = Callable[[AsyncSession, AuditFilter, PageRequest[Any]], Awaitable[Page[AuditEntry]]]


def audit_router(
    scope: str, position: Any, list_audit: ListAudit, description: str, prefix: str = "/v1/audit"
) -> APIRouter:
    """The audit endpoint of a service (at ``prefix``): readers with ``scope``, pages of
    ``position``."""
    router = APIRouter(route_class=JsonBodyRoute, prefix=prefix, tags=["audit"])
    reader = Depends(require(scope))
    pages = Depends(paginated(position))

    @router.get("", responses=responses(Unprocessable), description=description)
    async def list_changes(
        session: Session,
        _: Annotated[Principal, reader],
        page: Annotated[PageRequest[Any], pages],
        principal: QueryText | None = None,
        since: Annotated[Instant | None, Query(alias="from", description="Inclusive")] = None,
        until: Annotated[Instant | None, Query(alias="to", description="Exclusive")] = None,
    ) -> Page[AuditEntry]:
        return await list_audit(session, AuditFilter(principal, since, until), page)

    return router
