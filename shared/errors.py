"""One error hierarchy, rendered by one handler as RFC 9457 problem details."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import orjson
from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.logging import current_request_id

PROBLEM_JSON = "application/problem+json"


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


class InvalidScorecard(Unprocessable):
    """A proposed scorecard breaks a rule (weights summing to 100, monotonic thresholds):
    ``errors`` names each field."""

    type_slug = "invalid-scorecard"


class NotScored(NotFound):
    """The account has no snapshot yet: ingest has not told scoring of it, or it is unknown."""

    type_slug = "not-scored"


class InvalidTrigger(Unprocessable):
    """A program's CEL trigger does not compile or check: ``errors`` point at the trigger and
    say where in it (line, column)."""

    type_slug = "invalid-trigger"


class UnknownProgram(NotFound):
    """No program has this id."""

    type_slug = "unknown-program"


class UnknownOffer(NotFound):
    """No offer has this id."""

    type_slug = "unknown-offer"


class ApprovalForbidden(Forbidden):
    """This principal may not approve (or reject) this offer or program version: its owner,
    its proposer or author, someone who approved it already, or a key without the scope."""

    type_slug = "approval-forbidden"


class IllegalTransition(Conflict):
    """The offer or program is in a state that does not allow what was asked."""

    type_slug = "illegal-transition"


class SignInRefused(Unauthorized):
    """The console did not know that name and password, or that API key."""

    type_slug = "sign-in-refused"


class SignInThrottled(TooManyRequests):
    """Too many failed sign-ins for a name or from an address: wait before the next."""

    type_slug = "sign-in-throttled"


class SignInRequired(Unauthorized):
    """A console page asked for without a live session (none, signed out, or expired)."""

    type_slug = "sign-in-required"


class CsrfRefused(Forbidden):
    """A console form posted without this session's anti-forgery token (or with another's)."""

    type_slug = "csrf-token-invalid"


class UserExists(Conflict):
    """A console user of that name already exists."""

    type_slug = "user-exists"


def check_range(since: Any, until: Any) -> None:
    """Refuse a time range (``from``, ``to``: the query parameters every list names them by)
    that holds nothing, ``to`` at or before ``from``, rather than answer an empty page."""
    if since is not None and until is not None and until <= since:
        raise Unprocessable(
            "The range is empty.", errors=[FieldError(detail="must be after from", parameter="to")]
        )


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


class UnstorableValue(Unprocessable):
    """A value the service let through that PostgreSQL cannot store."""

    type_slug = "unstorable-value"


class RetryLater(TenureError):
    """The database could not finish the request; sending it again is safe."""

    status_code = 503
    title = "Service Unavailable"
    type_slug = "retry"


class DependencyUnavailable(TenureError):
    """A service this one must ask did not answer; the request may be sent again shortly."""

    status_code = 503
    title = "Service Unavailable"
    type_slug = "dependency-unavailable"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": "5"})


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
