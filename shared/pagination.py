"""Opaque cursor pagination for every list endpoint."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Query
from pydantic import BaseModel

from shared.errors import BadRequest, FieldError

MAX_LIMIT = 500
T = TypeVar("T")
R = TypeVar("R")


class Page(BaseModel, Generic[T]):
    """One page of a list; ``next_cursor`` is null on the last page."""

    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    """Where a page starts and how long it is."""

    cursor: str | None
    limit: int


def page_params(
    cursor: Annotated[str | None, Query(description="Opaque cursor from a previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> PageParams:
    """FastAPI dependency reading ``cursor`` and ``limit``."""
    return PageParams(cursor=cursor, limit=limit)


def page_of(
    rows: Sequence[R],
    limit: int,
    item: Callable[[R], T],
    position: Callable[[R], list[Any]],
) -> Page[T]:
    """A page from up to ``limit + 1`` rows: the extra row only says a next page exists.

    ``position`` gives the sort key of a row; the cursor holds that of the last row shown.
    """
    cursor = encode_cursor(position(rows[limit - 1])) if len(rows) > limit else None
    return Page(items=[item(row) for row in rows[:limit]], next_cursor=cursor)


def encode_cursor(position: list[Any]) -> str:
    """An opaque cursor for the position after which the next page starts."""
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> list[Any] | None:
    """The position a cursor stands for; a cursor that was not made here is a 400."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise BadRequest(
            "The cursor is not valid.", errors=[FieldError(detail="invalid", parameter="cursor")]
        ) from exc
    if not isinstance(value, list):
        raise BadRequest(
            "The cursor is not valid.", errors=[FieldError(detail="invalid", parameter="cursor")]
        )
    return value
