"""One error hierarchy, rendered by one handler as RFC 9457 problem details."""

from __future__ import annotations

import inspect
import re
from collections.abc import Sequence
from typing import Any, ClassVar

import asyncpg
import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from shared.logging import current_request_id

PROBLEM_JSON = "application/problem+json"
_log = structlog.get_logger("tenure.errors")


class FieldError(BaseModel):
    """One thing wrong with the request: where (JSON pointer or parameter) and why."""

    detail: str
    pointer: str | None = Field(default=None, description="JSON pointer into the body")
    parameter: str | None = Field(default=None, description="query, path or header parameter")


class Problem(BaseModel):
    """RFC 9457 problem details, as every error response of Tenure is shaped."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] = Field(default_factory=list)


class TenureError(Exception):
    """Base of every error a service raises on purpose; carries its HTTP status."""

    status_code: ClassVar[int] = 500
    title: ClassVar[str] = "Internal Server Error"
    type_slug: ClassVar[str] = "internal"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[FieldError] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = list(errors)
        self.headers = headers or {}

    @classmethod
    def for_field(cls, pointer: str, detail: str) -> TenureError:
        """An error about one field of the JSON body."""
        return cls(detail, errors=[FieldError(detail=detail, pointer=pointer)])


class BadRequest(TenureError):
    status_code = 400
    title = "Bad Request"
    type_slug = "bad-request"


class MalformedJson(BadRequest):
    """The request body is not JSON (or not UTF-8)."""

    type_slug = "malformed-json"


class Unauthorized(TenureError):
    status_code = 401
    title = "Unauthorized"
    type_slug = "unauthorized"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(TenureError):
    status_code = 403
    title = "Forbidden"
    type_slug = "forbidden"


class NotFound(TenureError):
    status_code = 404
    title = "Not Found"
    type_slug = "not-found"


class Conflict(TenureError):
    status_code = 409
    title = "Conflict"
    type_slug = "conflict"


class PayloadTooLarge(TenureError):
    status_code = 413
    title = "Payload Too Large"
    type_slug = "payload-too-large"


class Unprocessable(TenureError):
    status_code = 422
    title = "Unprocessable Content"
    type_slug = "validation"


class UnsupportedEncoding(TenureError):
    status_code = 415
    title = "Unsupported Media Type"
    type_slug = "unsupported-encoding"


class TooManyRequests(TenureError):
    status_code = 429
    title = "Too Many Requests"
    type_slug = "rate-limited"


# Problem types that name their cause, so a client can act on ``type`` without parsing prose.
# Each keeps its status class's code; OpenAPI ``responses`` lists the causes of each code.


class KeyInFlight(Conflict):
    """A request with this Idempotency-Key is still being processed: retry after a moment."""

    type_slug = "key-in-flight"


class KeyReused(Unprocessable):
    """This Idempotency-Key was first used with a different request."""

    type_slug = "key-reused"


class InsufficientCredit(Conflict):
    """The credit available does not cover what the request must take."""

    type_slug = "insufficient-credit"


class NotReversible(Conflict):
    """The transaction cannot be reversed (already reversed, a reversal, or nothing left)."""

    type_slug = "not-reversible"


class UnknownAccount(Unprocessable):
    """The request refers to an account that does not exist."""

    type_slug = "unknown-account"


class Duplicate(Conflict):
    """Another resource already holds a value that must be unique."""

    type_slug = "duplicate"


class MalformedSignatureHeader(BadRequest):
    """A webhook's signature header is missing or cannot be read."""

    type_slug = "malformed-signature"


class InvalidSignature(Unauthorized):
    """A webhook is not signed by a secret of its source, or was signed outside the tolerance."""

    type_slug = "invalid-signature"

    def __init__(self, detail: str | None = None, *, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(detail)
        self.errors = list(errors)


class ConstraintViolated(Unprocessable):
    """The request would break a rule the database keeps (a check or a required value)."""

    type_slug = "constraint-violated"


class UnknownReference(Unprocessable):
    """The request refers to something that does not exist."""

    type_slug = "unknown-reference"


class EdgeRefusal(StarletteHTTPException):
    """An error met while the request body is read, carried to its own handler.

    FastAPI turns any error raised while it reads a body into a 400, except HTTP exceptions:
    the request edge (``shared.limits``) wraps its refusals in this one to keep their cause.
    """

    def __init__(self, error: Exception) -> None:
        super().__init__(status_code=400)
        self.error = error


def problem_response(
    status: int,
    title: str,
    *,
    type_slug: str = "",
    detail: str | None = None,
    errors: Sequence[FieldError] = (),
    request: Request | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Render a problem details response."""
    problem = Problem(
        type=problem_type(type_slug) if type_slug else "about:blank",
        title=title,
        status=status,
        detail=detail,
        instance=request.url.path if request is not None else None,
        request_id=current_request_id(),
        errors=list(errors),
    )
    return Response(
        orjson.dumps(problem.model_dump(mode="json", exclude_none=True)),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def problem_body(
    exc: TenureError, instance: str | None, request_id: str | None = None
) -> dict[str, Any]:
    """The problem document an error renders to (as ``problem_response`` would send it).

    ``request_id`` defaults to the current request's.
    """
    problem = Problem(
        type=problem_type(exc.type_slug),
        title=exc.title,
        status=exc.status_code,
        detail=exc.detail,
        instance=instance,
        request_id=request_id or current_request_id(),
        errors=exc.errors,
    )
    return problem.model_dump(mode="json", exclude_none=True)


def json_response(status: int, body: Any) -> Response:
    """A body that is ready for JSON, sent as it is (problems as problems): a stored response
    sent again, or one built without a model round trip."""
    media = PROBLEM_JSON if status >= 400 else "application/json"
    return Response(orjson.dumps(body), status_code=status, media_type=media)


def problem_type(slug: str) -> str:
    """The ``type`` URI of a problem named by ``slug``."""
    return f"https://tenure.dev/problems/{slug}"


def responses(*errors: type[TenureError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` declaring the problem responses an endpoint can give.

    Several causes may share a status code: the description lists each cause's problem type.
    """
    by_status: dict[int, list[type[TenureError]]] = {}
    declared: tuple[type[TenureError], ...] = (Unauthorized, Forbidden, TooManyRequests, *errors)
    for error in declared:
        causes = by_status.setdefault(error.status_code, [])
        if error not in causes:
            causes.append(error)
    return {
        status: {
            "model": Problem,
            "description": causes[0].title
            + ": "
            + ", ".join(f"`{problem_type(c.type_slug)}`" for c in causes),
            "content": {PROBLEM_JSON: {}},
        }
        for status, causes in by_status.items()
    }


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


def _driver_error(exc: Exception) -> BaseException:
    """The driver's own error, whether SQLAlchemy wrapped it or it was raised raw."""
    orig: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
    return orig.__cause__ or orig


def database_error_state(exc: Exception) -> str | None:
    """The SQLSTATE behind a database error; ``22000`` for a value the driver refused."""
    orig = _driver_error(exc)
    state = getattr(orig, "sqlstate", None)
    if state is None and isinstance(orig, asyncpg.DataError):
        return "22000"
    return state if isinstance(state, str) else None


def database_error_message(exc: Exception) -> str:
    """The database's own one-line reason, without the statement or its parameters."""
    orig = _driver_error(exc)
    message = str(getattr(orig, "message", None) or orig).splitlines()[0]
    return message[:300]


_KEY_COLUMNS = re.compile(r"^Key \((?P<columns>[^)]*(?:\([^)]*\)[^)]*)*)\)=")


def constraint_error(exc: Exception) -> TenureError | None:
    """The caller's error behind an integrity violation (SQLSTATE class 23), if it is one.

    Names the columns or constraint at fault, never a value: the value may be a secret (a
    write key's hash) or another tenant's data.
    """
    orig = _driver_error(exc)
    state = database_error_state(exc) or ""
    constraint = getattr(orig, "constraint_name", None) or "a constraint"
    match = _KEY_COLUMNS.match(str(getattr(orig, "detail", None) or ""))
    columns = [c.strip().strip('"') for c in match["columns"].split(",")] if match else []
    if state == "23505":
        names = ", ".join(columns) or constraint
        return Duplicate(
            f"Another record already has this {names}; it must be unique.",
            errors=[FieldError(detail="already taken", pointer=f"/{c}") for c in columns]
            or [FieldError(detail=f"violates {constraint}", pointer="")],
        )
    if state == "23503":
        names = ", ".join(columns) or constraint
        return UnknownReference(
            f"The {names} refers to something that does not exist ({constraint}).",
            errors=[FieldError(detail="does not exist", pointer=f"/{c}") for c in columns]
            or [FieldError(detail=f"violates {constraint}", pointer="")],
        )
    if state == "23502":
        column = getattr(orig, "column_name", None) or "a required field"
        return ConstraintViolated(
            f"The {column} is required.",
            errors=[FieldError(detail="is required", pointer=f"/{column}")],
        )
    if state.startswith("23"):  # check (23514), exclusion (23P01) and the rest of the class
        return ConstraintViolated(
            f"The request breaks the rule {constraint}.",
            errors=[FieldError(detail=f"violates {constraint}", pointer="")],
        )
    return None


# SQLSTATEs after which the request may be sent again: a deadlock or serialization failure
# changed nothing, and after a server shutdown or a lost connection every write path here is
# safe to repeat (idempotency keys, event ids).
RETRYABLE_STATES = frozenset({"40001", "40P01", "57P01", "57P02", "57P03"})


class UnstorableValue(Unprocessable):
    """A value the service let through that PostgreSQL cannot store."""

    type_slug = "unstorable-value"


class RetryLater(TenureError):
    """The database could not finish the request; sending it again is safe."""

    status_code = 503
    title = "Service Unavailable"
    type_slug = "retry"


def database_problem(exc: Exception, *, name_constraints: bool = True) -> TenureError | None:
    """What a database error is to the caller, or None when it is the service's own fault.

    A value PostgreSQL cannot store (class 22) is a 422 ``unstorable-value``; an integrity
    violation (class 23) is the problem ``constraint_error`` names, or, with
    ``name_constraints=False`` (rows built by the service, whose columns name nothing the
    caller sent), an unstorable value too; a deadlock, serialization failure, shutdown or
    lost connection is a 503 ``retry``.
    """
    state = database_error_state(exc) or ""
    if state.startswith("23") and name_constraints:
        return constraint_error(exc)
    if state.startswith(("22", "23")):
        return UnstorableValue(
            f"A value in the request cannot be stored: {database_error_message(exc)}"
        )
    lost_types = (asyncpg.ConnectionDoesNotExistError, ConnectionError)
    lost = isinstance(exc, lost_types) or isinstance(_driver_error(exc), lost_types)
    if lost or state in RETRYABLE_STATES or state.startswith("08"):
        return RetryLater(
            "The database could not finish the request; send it again (a repeat with the same"
            " Idempotency-Key or event ids is safe).",
            headers={"Retry-After": "1"},
        )
    return None


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
        return problem_response(
            400,
            "Bad Request",
            type_slug="bad-request",
            detail="The client disconnected before sending its whole body.",
            request=request,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        _log.exception("unhandled_error", path=request.url.path)
        return problem_response(
            500,
            "Internal Server Error",
            type_slug="internal",
            detail="An unexpected error occurred; quote the request id when reporting it.",
            request=request,
        )
