"""The one handler that renders every error, expected or not, as problem details."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from shared.database_errors import database_error_message, database_error_state, database_problem
from shared.errors import (
    BadRequest,
    EdgeRefusal,
    FieldError,
    MalformedJson,
    TenureError,
    problem_response,
)

_log = structlog.get_logger("tenure.errors")


def _location_to_field(loc: Sequence[int | str]) -> FieldError | None:
    if not loc:
        return None
    where, *rest = loc
    if where == "body":
        pointer = "".join(f"/{str(part).replace('~', '~0').replace('/', '~1')}" for part in rest)
        return FieldError(detail="", pointer=pointer or "")
    return FieldError(detail="", parameter=".".join(str(part) for part in rest) or str(where))


def validation_field_errors(raw_errors: Sequence[Any]) -> list[FieldError]:
    """Turn pydantic/FastAPI error dicts into problem ``errors`` naming each field."""
    out: list[FieldError] = []
    for err in raw_errors:
        field = _location_to_field(tuple(err.get("loc", ())))
        message = str(err.get("msg", "invalid"))
        if field is None:
            out.append(FieldError(detail=message, pointer=""))
        else:
            out.append(field.model_copy(update={"detail": message}))
    return out


def install_error_handlers(app: FastAPI) -> None:
    """Route every error, expected or not, through problem details."""

    @app.exception_handler(TenureError)
    async def _tenure_error(request: Request, exc: TenureError) -> Response:
        return problem_response(
            exc.status_code,
            exc.title,
            type_slug=exc.type_slug,
            detail=exc.detail,
            errors=exc.errors,
            request=request,
            headers=exc.headers,
        )

    @app.exception_handler(EdgeRefusal)
    async def _edge_refusal(request: Request, exc: EdgeRefusal) -> Response:
        for cls in type(exc.error).__mro__:
            handler = app.exception_handlers.get(cls)
            if handler is not None:
                response = handler(request, exc.error)
                return await response if inspect.isawaitable(response) else response
        return await _unexpected(request, exc.error)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        raw = exc.errors()
        if any(err.get("type") == "json_invalid" for err in raw):
            return problem_response(
                400,
                "Bad Request",
                type_slug="malformed-json",
                detail="The request body is not valid JSON.",
                request=request,
            )
        return problem_response(
            422,
            "Unprocessable Content",
            type_slug="validation",
            detail="The request has invalid fields; see errors.",
            errors=validation_field_errors(raw),
            request=request,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        titles = {404: "Not Found", 405: "Method Not Allowed", 400: "Bad Request"}
        # Routing refusals, and FastAPI's own 400 for a body it could not decode (the services
        # raise TenureErrors, never bare HTTP exceptions), each get a type naming the cause.
        slugs = {404: "not-found", 405: "method-not-allowed", 400: MalformedJson.type_slug}
        return problem_response(
            exc.status_code,
            titles.get(exc.status_code, "Error"),
            type_slug=slugs.get(exc.status_code, ""),
            detail=str(exc.detail) if exc.detail else None,
            request=request,
            headers=dict(exc.headers or {}),
        )

    @app.exception_handler(DBAPIError)
    @app.exception_handler(asyncpg.PostgresError)
    @app.exception_handler(asyncpg.ConnectionDoesNotExistError)
    @app.exception_handler(ConnectionError)  # the database refused or dropped a connection
    async def _database_error(request: Request, exc: Exception) -> Response:
        # Input the service's own validation let through but PostgreSQL refuses (a value out
        # of range, an unstorable character) is the caller's to fix: a 422, never a 500.
        state = database_error_state(exc)
        statement = exc.statement if isinstance(exc, DBAPIError) else None
        _log.warning(
            "database_refused",
            sqlstate=state,
            reason=database_error_message(exc),
            statement=(statement or "")[:200],
        )
        problem = database_problem(exc)
        if problem is not None:
            return await _tenure_error(request, problem)
        return await _unexpected(request, exc)

    @app.exception_handler(ClientDisconnect)
    async def _client_gone(request: Request, exc: ClientDisconnect) -> Response:
        # The client hung up before its body arrived: nothing was done, nobody reads this.
        _log.warning("client_disconnected", path=request.url.path)
        gone = BadRequest("The client disconnected before sending its whole body.")
        return await _tenure_error(request, gone)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        _log.exception("unhandled_error", path=request.url.path)
        return unexpected_error_response(request)


def unexpected_error_response(request: Request) -> Response:
    """The 500 of an error nobody raised on purpose: no detail of it leaves the process, the
    request id (in the body and the header) finds it in the log."""
    return problem_response(
        500,
        "Internal Server Error",
        type_slug="internal",
        detail="An unexpected error occurred; quote the request id when reporting it.",
        request=request,
    )
