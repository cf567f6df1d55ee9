"""``/healthz`` (process up) and ``/readyz`` (database reachable, migrations at head)."""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from shared.json_body import JsonBodyRoute
from shared.migrate import current_revision, head_revision

router = APIRouter(route_class=JsonBodyRoute, tags=["health"])


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
    """Ready when the database answers and this service's schema is at its head revision, as
    is the shared key store's (``auth``), which every keyed request goes through."""
    service: str = request.app.state.service_name
    expected: str | None = request.app.state.head_revision
    try:
        async with request.app.state.engine.connect() as conn:
            current = await current_revision(conn, service)
            current_auth = await current_revision(conn, "auth")
    except (SQLAlchemyError, OSError) as exc:
        return JSONResponse(
            {"status": "unavailable", "database": "unreachable", "error": type(exc).__name__},
            status_code=503,
        )
    migrations = {"current": current, "head": expected}
    if current != expected:
        return JSONResponse({"status": "unavailable", "migrations": migrations}, status_code=503)
    auth = {"current": current_auth, "head": _auth_head()}
    if current_auth != auth["head"]:
        return JSONResponse(
            {"status": "unavailable", "migrations": {**migrations, "auth": auth}}, status_code=503
        )
    return {"status": "ready", "migrations": {**migrations, "auth": auth}}


@cache
def _auth_head() -> str | None:
    return head_revision("auth")
