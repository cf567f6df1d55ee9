"""The finance page: liability, expiring credit, grants, redemptions and breakage by month,
the ledger's audit, and each table as CSV."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.console.api.deps import CurrentPerson, PlatformApi
from services.console.csv_response import csv_response
from services.console.domain import finance as shape
from services.console.domain.csv_export import to_csv
from services.console.platform import ApiProblem, ServiceDown
from services.console.rendering import page
from services.console.service import finance as service

router = APIRouter(tags=["finance"])


@router.get("/finance", response_class=HTMLResponse)
async def finance(request: Request, person: CurrentPerson, platform: PlatformApi) -> HTMLResponse:
    """The ledger's reports for finance, and who may run its audit."""
    view = await service.finance(platform, person)
    context = {"view": view, "active": "finance", "audit_scope": service.AUDIT_SCOPE}
    return page(request, "finance.html", context)


@router.get("/finance/audit", response_class=HTMLResponse)
async def audit(request: Request, person: CurrentPerson, platform: PlatformApi) -> HTMLResponse:
    """The ledger's audit run now (admins); for anyone else, who may run it (403)."""
    result = await service.audit(platform, person)
    status = 403 if result is None else result.status or 200
    context = {"audit": result, "active": "finance", "audit_scope": service.AUDIT_SCOPE}
    return page(request, "finance_audit.html", context, status)


@router.get("/finance/{table}.csv", response_class=Response)
async def table_csv(
    request: Request, table: shape.Table, person: CurrentPerson, platform: PlatformApi
) -> Response:
    """One of the finance page's tables as a CSV download (amounts in integer minor units)."""
    try:
        rows = await service.table(platform, person, table)
    except ServiceDown as exc:
        detail = f"{exc}. The download needs the ledger's report: try again shortly."
        return page(request, "error.html", {"title": "Ledger unavailable", "detail": detail}, 503)
    except ApiProblem as exc:
        title = "Not allowed" if exc.status == 403 else "Refused"
        return page(request, "error.html", {"title": title, "detail": exc.detail}, exc.status)
    day = datetime.now(UTC).date().isoformat()
    body = to_csv(shape.HEADERS[table], shape.csv_rows(table, rows))
    return csv_response(body, f"tenure-{table}-{day}.csv")
