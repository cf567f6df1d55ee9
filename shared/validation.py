"""Input rules every service shares: what PostgreSQL can store, stated where input is read."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator, AwareDatetime, BeforeValidator, StringConstraints

INT32_MAX = 2_147_483_647
INT64_MAX = 9_223_372_036_854_775_807
# Ids in URLs: no control characters, no slashes, no surrounding spaces.
ID_PATTERN = r"^[^\s/\x00-\x1f\x7f]([^/\x00-\x1f\x7f]*[^\s/\x00-\x1f\x7f])?$"


# Deeper JSON than any integration sends; it also keeps every walk of a document shallow.
MAX_JSON_DEPTH = 64


def unstorable(value: Any) -> str | None:
    """Why PostgreSQL (text, jsonb) or the JSON encoder cannot keep ``value``, or None.

    Strings, and every key and string inside lists and objects, may hold no NUL character and
    no lone UTF-16 surrogate; numbers must come back from jsonb as they were sent
    (``number_problem``); documents may nest at most ``MAX_JSON_DEPTH`` levels. The walk is
    iterative, so a deeply nested document is refused rather than overflowing the stack.
    """
    found = unstorable_at(value)
    return found[1] if found else None


def unstorable_at(value: Any) -> tuple[str, str] | None:
    """Where (a JSON pointer into ``value``) and why it cannot be kept, or None (see
    ``unstorable``)."""
    stack: list[tuple[Any, int, tuple[str, ...]]] = [(value, 0, ())]
    while stack:
        item, depth, path = stack.pop()
        problem = None
        if isinstance(item, str):
            problem = _string_problem(item)
        elif isinstance(item, int | float):
            problem = number_problem(item)
        elif isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                problem = f"must not be nested deeper than {MAX_JSON_DEPTH} levels"
            elif isinstance(item, dict):
                stack.extend((k, depth, (*path, str(k))) for k in item)
                stack.extend((v, depth + 1, (*path, str(k))) for k, v in item.items())
            else:
                stack.extend((v, depth + 1, (*path, str(i))) for i, v in enumerate(item))
        if problem:
            return _pointer(path), problem
    return None


_UNPRINTABLE = re.compile("[\x00\ud800-\udfff]")


def _pointer(path: tuple[str, ...]) -> str:
    # A key may itself be what cannot be kept: it is shown with U+FFFD in its place.
    parts = (_UNPRINTABLE.sub("\ufffd", p).replace("~", "~0").replace("/", "~1") for p in path)
    return "".join(f"/{part}" for part in parts)


def _string_problem(value: str) -> str | None:
    if "\x00" in value:
        return "must not contain NUL characters (\\u0000)"
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            return "must not contain lone UTF-16 surrogates"
    return None


# Beyond this magnitude jsonb gives a float back as an integer (1e20 as 100000000000000000000).
MAX_JSON_FLOAT = 1e15
NUMBER_REASON = (
    "must hold only numbers that are stored exactly: integers within 64 bits, other numbers"
    f" finite, below {MAX_JSON_FLOAT:.0e} in magnitude and not -0.0"
)


def number_problem(value: float) -> str | None:
    """Why jsonb, or the JSON codecs, would not give ``value`` back as it is, or None.

    A stored document is read back and hashed (the ledger) or re-sent: NaN and infinities are
    not JSON, integers past 64 bits overflow the codecs, and jsonb's numeric turns -0.0 into 0
    and large floats into integers.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if -INT64_MAX - 1 <= value <= INT64_MAX else NUMBER_REASON
    if not math.isfinite(value) or abs(value) >= MAX_JSON_FLOAT:
        return NUMBER_REASON
    if value == 0 and math.copysign(1.0, value) < 0:
        return NUMBER_REASON
    return None


def _storable(value: Any) -> Any:
    problem = unstorable(value)
    if problem:
        raise ValueError(problem)
    return value


# A string PostgreSQL can store (text refuses NUL characters and invalid UTF-8).
Text = Annotated[str, AfterValidator(_storable)]
# A list's filter in the query string: 1 to 200 characters (an empty one is refused rather
# than matching nothing), the length checked before storability so its message says
# characters.
QueryText = Annotated[
    str, StringConstraints(min_length=1, max_length=200), AfterValidator(_storable)
]
# A JSON object PostgreSQL can store as jsonb (which refuses \u0000), of bounded depth.
JsonObject = Annotated[dict[str, Any], AfterValidator(_storable)]
PathId = Annotated[str, Path(min_length=1, max_length=200, pattern=ID_PATTERN)]
PathSerial = Annotated[int, Path(ge=1, le=INT64_MAX)]


OUT_OF_RANGE_REASON = "is outside the range of representable times"
# asyncpg writes these two as -infinity and infinity and reads them back naive: they are
# refused like the times past them, so every stored time comes back as it was sent.
_INFINITY_SENTINELS = (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))


def to_instant(value: datetime) -> datetime:
    """``value`` (aware) in UTC, or ``ValueError`` when it has no exact stored form: its UTC
    form leaves years 1 to 9999, or is one of the driver's infinity sentinels (the first and
    last representable microsecond)."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError(OUT_OF_RANGE_REASON) from None
    if utc in _INFINITY_SENTINELS:
        raise ValueError(OUT_OF_RANGE_REASON)
    return utc


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
NOT_A_TIME_REASON = "a time is an ISO 8601 date and time with its UTC offset, not a number"


def refuse_numbers(value: Any) -> Any:
    """Refuse a number (or a string of one) where a time is meant: pydantic would read it as
    seconds since 1970, so ``0`` or ``true`` would be stored as 1970-01-01."""
    if isinstance(value, bool | int | float) or (
        isinstance(value, str) and _NUMBER.fullmatch(value.strip())
    ):
        raise ValueError(NOT_A_TIME_REASON)
    return value


# An instant: a time with a UTC offset (a naive time is refused, as it names no instant; a
# number is refused, as it is not a time), normalised to UTC; times with no exact stored
# form (``to_instant``) are refused.
Instant = Annotated[AwareDatetime, BeforeValidator(refuse_numbers), AfterValidator(to_instant)]
