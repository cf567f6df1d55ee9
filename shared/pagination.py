"""Signed, typed cursor pagination for every list endpoint.

A cursor is the sort key of the last row of a page, serialised as JSON and signed with
HMAC-SHA256 under the service's cursor secret, bound to the list and filters that made it. A client
cannot make one up or alter one: anything not signed here for this list is a 400 naming
the ``cursor`` parameter, before any router code sees it.

Each list declares the shape of its position once, for example::

    Position = tuple[datetime, str]
    Pages = Annotated[PageRequest[Position], Depends(paginated(Position))]

and answers with ``page.page(rows, item, position)``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Query, Request
from pydantic import BaseModel, TypeAdapter, ValidationError

from shared.errors import BadRequest, FieldError
from shared.settings import ServiceSettings

MAX_LIMIT = 500
T = TypeVar("T")
R = TypeVar("R")
P = TypeVar("P")

_KEY_LABEL = b"tenure cursor v1"


class Page(BaseModel, Generic[T]):
    """One page of a list; ``next_cursor`` is null on the last page."""

    items: list[T]
    next_cursor: str | None = None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode("ascii"))


def _invalid_cursor(why: str) -> BadRequest:
    return BadRequest(
        f"The cursor is not valid: {why}. Use the next_cursor of a previous page as it is.",
        errors=[FieldError(detail=why, parameter="cursor")],
    )


class CursorSigner:
    """Signs positions into cursors and checks cursors back into typed positions."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def for_settings(cls, settings: ServiceSettings) -> CursorSigner:
        """The signer of a service: keyed by ``cursor_secret``, else derived from the service's
        own API key, else (neither set) a random key of this process only."""
        secret = settings.cursor_secret.get_secret_value() or (
            settings.service_api_key.get_secret_value()
        )
        if not secret:
            # Cursors then stop working across processes and restarts: documented in settings.
            return cls(secrets.token_bytes(32))
        return cls(hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest())

    def _mac(self, scope: str, payload: str) -> bytes:
        return hmac.new(self._key, f"{scope}\n{payload}".encode(), hashlib.sha256).digest()

    def sign(self, scope: str, position: Sequence[Any]) -> str:
        """A cursor for ``position`` (JSON-ready parts) that only ``scope`` accepts back."""
        payload = _b64(orjson.dumps(list(position)))
        return f"{payload}.{_b64(self._mac(scope, payload))}"

    def open(self, scope: str, cursor: str) -> Any:
        """The JSON position a cursor signed for ``scope`` holds; a 400 for any other."""
        payload, dot, tag = cursor.partition(".")
        if not dot or not payload or not tag:
            raise _invalid_cursor("not a cursor of this list")
        try:
            given = _unb64(tag)
        except (ValueError, binascii.Error) as exc:
            raise _invalid_cursor("not a cursor of this list") from exc
        # One spelling per cursor: padding or other alternative encodings of the tag are refused.
        if _b64(given) != tag or not hmac.compare_digest(given, self._mac(scope, payload)):
            raise _invalid_cursor("not a cursor of this list")
        try:
            return orjson.loads(_unb64(payload))
        except (ValueError, binascii.Error, orjson.JSONDecodeError) as exc:
            raise _invalid_cursor("unreadable") from exc


@dataclass(frozen=True)
class PageRequest(Generic[P]):
    """Where a page starts (``after``, a typed position or None) and how long it is."""

    after: P | None
    limit: int
    scope: str
    signer: CursorSigner
    adapter: TypeAdapter[P]

    def cursor(self, position: P) -> str:
        """The cursor of the page after ``position``."""
        return self.signer.sign(self.scope, self.adapter.dump_python(position, mode="json"))

    def page(
        self, rows: Sequence[R], item: Callable[[R], T], position: Callable[[R], P]
    ) -> Page[T]:
        """A page from up to ``limit + 1`` rows: the extra row only says a next page exists.

        ``position`` gives the sort key of a row; the cursor holds that of the last row shown.
        """
        more = len(rows) > self.limit
        next_cursor = self.cursor(position(rows[self.limit - 1])) if more else None
        return Page(items=[item(row) for row in rows[: self.limit]], next_cursor=next_cursor)


def cursor_scope(request: Request) -> str:
    """What a cursor is bound to: the method, the path (path parameters included) and every
    query parameter but the cursor and the page length, so a cursor taken from one list, one
    account's statement or one filter is not accepted by another."""
    query = sorted(
        (name, value)
        for name, value in request.query_params.multi_items()
        if name not in ("cursor", "limit")
    )
    return f"{request.method} {request.url.path}?{orjson.dumps(query).decode()}"


def paginated(
    shape: type[P], *, default_limit: int = 100
) -> Callable[..., Awaitable[PageRequest[P]]]:
    """A FastAPI dependency reading ``cursor`` and ``limit`` for a list whose rows are ordered
    by a key of type ``shape`` (a tuple such as ``tuple[datetime, uuid.UUID]``).

    The cursor is checked (signature, list and filters, shape) before the endpoint runs: a forged,
    garbled, altered or foreign cursor is a 400 naming ``cursor``.
    """
    adapter: TypeAdapter[P] = TypeAdapter(shape)

    async def dependency(
        request: Request,
        cursor: Annotated[
            str | None, Query(description="Opaque cursor: the next_cursor of a previous page")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = default_limit,
    ) -> PageRequest[P]:
        scope = cursor_scope(request)
        signer: CursorSigner = request.app.state.cursor_signer
        after = None
        if cursor is not None:
            try:
                after = adapter.validate_python(signer.open(scope, cursor))
            except ValidationError as exc:
                raise _invalid_cursor("not a position of this list") from exc
        return PageRequest(after=after, limit=limit, scope=scope, signer=signer, adapter=adapter)

    return dependency
