"""Input rules every service shares: what PostgreSQL can store, stated where input is read."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator

INT32_MAX = 2_147_483_647
INT64_MAX = 9_223_372_036_854_775_807
# Ids in URLs: no control characters, no slashes, no surrounding spaces.
ID_PATTERN = r"^[^\s/\x00-\x1f\x7f]([^/\x00-\x1f\x7f]*[^\s/\x00-\x1f\x7f])?$"


def has_nul(value: Any) -> bool:
    """Whether a string, or any key or string inside lists and objects, holds a NUL."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


def _no_nul(value: Any) -> Any:
    if has_nul(value):
        raise ValueError("must not contain NUL characters (\\u0000)")
    return value


# A string PostgreSQL can store (text refuses NUL characters).
Text = Annotated[str, AfterValidator(_no_nul)]
# A JSON object PostgreSQL can store as jsonb (which refuses \u0000).
JsonObject = Annotated[dict[str, Any], AfterValidator(_no_nul)]
PathId = Annotated[str, Path(min_length=1, max_length=200, pattern=ID_PATTERN)]
PathSerial = Annotated[int, Path(ge=1, le=INT64_MAX)]
