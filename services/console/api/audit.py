"""The audit log: who changed what, when and why, on every service; and its CSV."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.console.api.deps import CurrentPerson, PlatformApi, Signer
from services.console.csv_response import csv_response
from services.console.domain.csv_export import to_csv
from services.console.rendering import page
from services.console.service import audit as service
from shared.deps import Session
from shared.validation import Instant

router = APIRouter(tags=["audit"])
Cursor = Annotated[str | None, Query(max_length=500)]


def audit_query(
    principal: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[Instant | None, Query(alias="from")] = None,
    until: Annotated[Instant | None, Query(alias="to")] = None,
    offers_cursor: Cursor = None,
    scoring_cursor: Cursor = None,
    ingest_cursor: Cursor = None,
    keys_cursor: Cursor = None,
    people_cursor: Cursor = None,
) -> service.AuditQuery:
    """The log's filters and where each source's page starts (``<source>_cursor``)."""
    cursors = (offers_cursor, scoring_cursor, ingest_cursor, keys_cursor, people_cursor)
    given = zip(service.SOURCES, cursors, strict=True)
    return service.AuditQuery(principal or None, since, until, {s: c for s, c in given if c})


Narrowed = Annotated[service.AuditQuery, Depends(audit_query)]


@router.get("/audit", response_class=HTMLResponse)
async def audit(
    request: Request,
    person: CurrentPerson,
    platform: PlatformApi,
    session: Session,
    signer: Signer,
    query: Narrowed,
) -> HTMLResponse:
    """Every change of state by anyone, newest first, narrowed by who and when."""
    view = await service.audit_page(platform, session, signer, person, query)
    filters = {
        "principal": query.principal or "",
        "from": query.since.isoformat() if query.since else "",
        "to": query.until.isoformat() if query.until else "",
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
    refusals = [p.status for p in view.panels.values() if p.status and p.status < 500]
    return page(request, "audit.html", context, max(refusals, default=200))


@router.get("/audit.csv")
async def audit_csv(
    person: CurrentPerson, platform: PlatformApi, session: Session, signer: Signer, query: Narrowed
) -> Response:
    """The audit log the filters select, from its newest change, as CSV."""
    whole = service.AuditQuery(query.principal, query.since, query.until)
    rows = await service.audit_rows(platform, session, signer, person, whole)
    header = ["at", "service", "kind", "principal", "subject", "summary"]
    body = to_csv(header, ([r.get(h) for h in header] for r in rows))
    return csv_response(body, "tenure-audit.csv")
