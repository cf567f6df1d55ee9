"""Reading JSON request bodies: one parser for every route, so valid JSON is never refused
as "not JSON" and a value no field can take is refused by the field's name.

FastAPI reads a route's body with the standard library, which refuses integers of more than
4,300 digits as if the body were not JSON; routes built with ``JsonBodyRoute`` (every router
of the project) read it with ``parse_json`` instead, which is also faster (orjson).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute

from shared.errors import MalformedJson

# A run of 19 digits: an integer orjson may not read exactly (past 64 bits it gives the
# float it approximates, silently: 2**70 comes back as 1.1805916207174113e+21), or merely a
# long number inside a string. Found by mapping every digit to 0 and looking for nineteen
# zeros: a tenth of what a regular expression takes (this runs on every JSON column read).
_DIGITS_AS_ZEROS = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19


def orjson_reads_exactly(document: str | bytes) -> bool:
    """Whether orjson is sure to read ``document`` as the standard library would: not when
    it holds a run of 19 digits (see ``_LONG_RUN``)."""
    raw = document.encode(errors="surrogatepass") if isinstance(document, str) else document
    return _LONG_RUN not in raw.translate(_DIGITS_AS_ZEROS)


def parse_json(body: bytes, *, constants: bool = False) -> Any:
    """The JSON document in a request body, or a 400 saying it is not JSON.

    Some valid JSON orjson refuses: a lone UTF-16 surrogate escape (which no database can
    store) and integers of thousands of digits. The standard library reads those, so that
    only the value holding one is refused, by name, by whoever validates or checks
    storability, rather than the whole body as "not JSON". ``constants`` reads ``NaN`` and
    ``Infinity`` (not JSON, but what Python's parser and so FastAPI's routes have always read)
    as floats, for validation to refuse by name where a field takes no such number. A body
    with a long run of digits is read by the standard library too, so an integer past 64
    bits stays the integer it is (and is refused by name where it cannot be stored).
    """
    if orjson_reads_exactly(body):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    try:
        constant = float if constants else _refuse_constant
        return json.loads(body, parse_constant=constant, parse_int=_integer)
    except (ValueError, RecursionError) as exc:
        raise MalformedJson("The request body is not valid JSON.") from exc


def _integer(digits: str) -> int | float:
    # Python reads integers of at most 4,300 digits; a longer one is far past every field's
    # bounds: read as the float it approximates (infinity), which validation refuses.
    return int(digits) if len(digits) <= _MAX_INT_DIGITS else float(digits)


_MAX_INT_DIGITS = 4000


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class JsonBodyRequest(Request):
    """A request whose JSON body is read by ``parse_json``."""

    async def json(self) -> Any:
        """The body's JSON document (read once)."""
        if not hasattr(self, "_json"):
            self._json = parse_json(await self.body(), constants=True)
        return self._json


class JsonBodyRoute(APIRoute):
    """A route whose body is read by ``parse_json``: what every router of the project uses."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler, handed a ``JsonBodyRequest``."""
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            return await handler(JsonBodyRequest(request.scope, request.receive))

        return route
