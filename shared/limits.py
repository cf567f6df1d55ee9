"""The request edge: who may send a body, how large it may be and how it may be encoded.

One ASGI middleware for every service. It lets the app route the request, then acts on the
first read of the body, before a byte of it is taken:

- a route that needs a bearer key admits the caller first (401/403 without reading);
- a declared ``Content-Length`` over the route's limit is a 413 at once; a chunked body is
  counted as it arrives and refused the moment it passes the limit;
- ``Content-Encoding`` is refused (415) unless the route accepts it; a gzip or deflate body
  is inflated as it is read, the limit applying to the inflated size (a bomb is a 413 after
  at most the limit), and a corrupt one is a 400.

The limit is ``max_body_bytes`` unless the endpoint declares its own with ``@accepts_body``,
which also names the encodings it takes and whether its problem bodies carry the analytics
SDKs' ``code`` and ``message`` members (the Segment-compatible routes).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from fastapi.dependencies.models import Dependant
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import Requirement, admit
from shared.errors import (
    PROBLEM_JSON,
    BadRequest,
    EdgeRefusal,
    FieldError,
    PayloadTooLarge,
    UnsupportedEncoding,
)
from shared.settings import ServiceSettings

F = TypeVar("F", bound=Callable[..., Any])
COMPRESSED = ("gzip", "deflate")


@dataclass(frozen=True)
class BodyRules:
    """What an endpoint declares about its body."""

    limit_setting: str
    encodings: tuple[str, ...] = ()
    # Segment-compatible routes: problem bodies also carry ``code`` and ``message``, which
    # the analytics SDKs log when a call fails.
    sdk_errors: bool = False


_DECLARED: dict[Callable[..., Any], BodyRules] = {}


def accepts_body(
    limit_setting: str, *, encodings: Sequence[str] = (), sdk_errors: bool = False
) -> Callable[[F], F]:
    """Declare an endpoint's body limit (the name of a setting), accepted content encodings
    and whether its errors carry the analytics SDKs' ``code``/``message`` members."""

    def mark(endpoint: F) -> F:
        _DECLARED[endpoint] = BodyRules(limit_setting, tuple(encodings), sdk_errors)
        return endpoint

    return mark


@dataclass(frozen=True)
class RoutePolicy:
    """The edge's rules for one route, resolved against the service's settings."""

    limit: int
    encodings: frozenset[str]
    scopes: tuple[str, ...]
    # False when a requirement leaves the scope to the route (any known key is admitted).
    enforced: bool
    sdk_errors: bool


def _requirements(dependant: Dependant) -> list[Requirement]:
    found: list[Requirement] = []
    pending = [dependant]
    while pending:
        current = pending.pop()
        if isinstance(current.call, Requirement):
            found.append(current.call)
        pending.extend(current.dependencies)
    return found


class Inflater:
    """Inflates a gzip or zlib stream chunk by chunk, never past ``limit`` bytes out."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._out = 0
        self._stream = zlib.decompressobj(32 + zlib.MAX_WBITS)  # gzip or zlib header

    def feed(self, data: bytes) -> bytes:
        """The bytes ``data`` inflates to; a 413 once the total passes the limit."""
        parts: list[bytes] = []
        while data:
            if self._stream.eof:  # a further gzip member follows
                self._stream = zlib.decompressobj(32 + zlib.MAX_WBITS)
            try:
                out = self._stream.decompress(data, self._limit - self._out + 1)
            except zlib.error as exc:
                raise _corrupt() from exc
            self._out += len(out)
            if self._out > self._limit:
                raise _too_large(self._limit)
            parts.append(out)
            data = self._stream.unconsumed_tail or self._stream.unused_data
        return b"".join(parts)

    def finish(self) -> None:
        """Called after the last chunk: a stream that did not end is corrupt (400)."""
        if not self._stream.eof:
            raise _corrupt()


def _corrupt() -> BadRequest:
    return BadRequest(
        "The body is not valid for its Content-Encoding.",
        errors=[FieldError(detail="corrupt or truncated", parameter="Content-Encoding")],
    )


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The body is larger than this endpoint's {limit}-byte limit.")


class RequestEdgeMiddleware:
    """Admits the caller, bounds and decodes the body, before the app reads any of it."""

    def __init__(self, app: ASGIApp, settings: ServiceSettings) -> None:
        self.app = app
        self.settings = settings
        # By path template and methods, which name a route (route objects are not hashable).
        self._policies: dict[tuple[str, str], RoutePolicy] = {}

    def policy(self, scope: Scope) -> RoutePolicy:
        """The rules of the route the request was routed to (defaults when none matched)."""
        route = scope.get("route")
        methods = getattr(route, "methods", None) or ()
        key = (str(getattr(route, "path", "")), ",".join(sorted(methods)))
        cached = self._policies.get(key)
        if cached is not None:
            return cached
        endpoint = getattr(route, "endpoint", None)
        rules = _DECLARED.get(endpoint) if endpoint is not None else None
        dependant = getattr(route, "dependant", None)
        requirements = _requirements(dependant) if isinstance(dependant, Dependant) else []
        policy = RoutePolicy(
            limit=int(getattr(self.settings, rules.limit_setting))
            if rules
            else self.settings.max_body_bytes,
            encodings=frozenset(rules.encodings) if rules else frozenset(),
            scopes=tuple(sorted({r.scope for r in requirements})),
            enforced=all(r.enforced for r in requirements),
            sdk_errors=rules.sdk_errors if rules else False,
        )
        self._policies[key] = policy
        return policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        gate = _BodyGate(self, scope, receive)
        await self.app(scope, gate.receive, _SdkErrors(self, scope, send).send)


class _BodyGate:
    """The ``receive`` the app reads the body through."""

    def __init__(self, edge: RequestEdgeMiddleware, scope: Scope, receive: Receive) -> None:
        self._edge = edge
        self._scope = scope
        self._receive = receive
        self._opened = False
        self._limit = 0
        self._read = 0
        self._inflater: Inflater | None = None

    async def _open(self) -> None:
        policy = self._edge.policy(self._scope)
        request = Request(self._scope)
        if policy.scopes:
            await admit(request, policy.scopes, enforced=policy.enforced)
        self._limit = policy.limit
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            if encoding not in policy.encodings:
                accepted = ", ".join(sorted(policy.encodings)) or "none"
                raise UnsupportedEncoding(
                    f"Content-Encoding '{encoding[:40]}' is not accepted here (accepted: "
                    f"{accepted}).",
                    errors=[FieldError(detail="not accepted", parameter="Content-Encoding")],
                )
            self._inflater = Inflater(policy.limit)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > policy.limit:
            raise _too_large(policy.limit)

    async def receive(self) -> Message:
        try:
            if not self._opened:
                self._opened = True
                await self._open()
            message = await self._receive()
            if message["type"] != "http.request":
                return message
            body: bytes = message.get("body", b"")
            self._read += len(body)
            if self._read > self._limit:
                raise _too_large(self._limit)
            if self._inflater is not None:
                body = self._inflater.feed(body)
                if not message.get("more_body", False):
                    self._inflater.finish()
            return {**message, "body": body}
        except EdgeRefusal:
            raise
        except Exception as exc:
            raise EdgeRefusal(exc) from exc


class _SdkErrors:
    """Adds ``code`` and ``message`` to problem bodies of routes that declare ``sdk_errors``."""

    def __init__(self, edge: RequestEdgeMiddleware, scope: Scope, send: Send) -> None:
        self._edge = edge
        self._scope = scope
        self._send = send
        self._start: Message | None = None
        self._chunks: list[bytes] = []

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = dict(message.get("headers", []))
            problem = headers.get(b"content-type", b"").startswith(PROBLEM_JSON.encode())
            if problem and self._edge.policy(self._scope).sdk_errors:
                self._start = message
                return
        elif self._start is not None and message["type"] == "http.response.body":
            self._chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = _with_sdk_members(b"".join(self._chunks))
            sized = [
                (k, str(len(body)).encode() if k == b"content-length" else v)
                for k, v in self._start.get("headers", [])
            ]
            await self._send({**self._start, "headers": sized})
            await self._send({"type": "http.response.body", "body": body})
            return
        await self._send(message)


def _with_sdk_members(body: bytes) -> bytes:
    try:
        problem = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    if not isinstance(problem, dict):
        return body
    slug = str(problem.get("type", "")).rsplit("/", 1)[-1] or "error"
    problem.setdefault("code", slug)
    problem.setdefault("message", problem.get("detail") or problem.get("title"))
    return orjson.dumps(problem)
