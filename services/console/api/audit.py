"""The audit log: who changed what, when and why, on every service; and its CSV."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.console.api.deps import CurrentPerson, PlatformApi
from services.console.csv_response import csv_response
from services.console.domain.csv_export import to_csv
from services.console.rendering import page
from services.console.service import audit as service
from shared.validation import Instant, Text

router = APIRouter(tags=["audit"])
Cursor = Annotated[str | None, Query(max_length=500)]


def _query(
    principal: str | None,
    since: Instant | None,
    until: Instant | None,
    offers_cursor: str | None = None,
    scoring_cursor: str | None = None,
) -> service.AuditQuery:
    cursors = {s: c for s, c in (("offers", offers_cursor), ("scoring", scoring_cursor)) if c}
    return service.AuditQuery(principal or None, since, until, cursors)


@router.get("/audit", response_class=HTMLResponse)
async def audit(
    request: Request,
    person: CurrentPerson,
    platform: PlatformApi,
    principal: Annotated[Text | None, Query(max_length=200)] = None,
    since: Annotated[Instant | None, Query(alias="from")] = None,
    until: Annotated[Instant | None, Query(alias="to")] = None,
    offers_cursor: Cursor = None,
    scoring_cursor: Cursor = None,
) -> HTMLResponse:
    """Every change of state by anyone, newest first, narrowed by who and when."""
    query = _query(principal, since, until, offers_cursor, scoring_cursor)
    view = await service.audit_page(platform, person, query)
    filters = {
        "principal": principal or "",
        "from": since.isoformat() if since else "",
        "to": until.isoformat() if until else "",
    }
    kept = {k: v for k, v in filters.items() if v}
    older = None
    if view.next_cursors:
        older = "/audit?" + urlencode(
            {**kept, **{f"{s}_cursor": c for s, c in view.next_cursors.items()}}
        )
    context = {
        "view": view,
        "filters": filters,
        "older": older,
        "csv": "/audit.csv" + ("?" + urlencode(kept) if kept else ""),
        "active": "audit",
    }
    status = 422 if any(p.status == 422 for p in view.panels.values()) else 200
    return page(request, "audit.html", context, status)


@router.get("/audit.csv")
async def audit_csv(
    person: CurrentPerson,
    platform: PlatformApi,
    principal: Annotated[Text | None, Query(max_length=200)] = None,
    since: Annotated[Instant | None, Query(alias="from")] = None,
    until: Annotated[Instant | None, Query(alias="to")] = None,
) -> Response:
    """The audit log the filters select, as CSV."""
    rows = await service.audit_rows(platform, person, _query(principal, since, until))
    header = ["at", "service", "kind", "principal", "subject", "summary"]
    body = to_csv(header, ([r.get(h) for h in header] for r in rows))
    return csv_response(body, "tenure-audit.csv")
