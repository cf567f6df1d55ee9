"""``/healthz`` (process up) and ``/readyz`` (database reachable, migrations at head)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from shared.migrate import current_revision

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    """Always ok while the process serves requests."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database is reachable and migrations are current",
    responses={503: {"description": "Not ready"}},
)
async def readyz(request: Request) -> Any:
    """Ready when the database answers and this service's schema is at its head revision."""
    service: str = request.app.state.service_name
    expected: str | None = request.app.state.head_revision
    try:
        async with request.app.state.engine.connect() as conn:
            current = await current_revision(conn, service)
    except (SQLAlchemyError, OSError) as exc:
        return JSONResponse(
            {"status": "unavailable", "database": "unreachable", "error": type(exc).__name__},
            status_code=503,
        )
    if current != expected:
        return JSONResponse(
            {"status": "unavailable", "migrations": {"current": current, "head": expected}},
            status_code=503,
        )
    return {"status": "ready", "migrations": {"current": current, "head": expected}}
