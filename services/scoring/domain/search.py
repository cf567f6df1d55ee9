"""Finding accounts by part of their id or name (pure): the LIKE pattern a search makes."""

from __future__ import annotations

# The escape character the repository's ILIKE declares; it and the wildcards are escaped so a
# search for "50%" or "a_b" matches those characters, not anything.
LIKE_ESCAPE = "\\"


def contains_pattern(text: str) -> str:
    """An ILIKE pattern matching any value that contains ``text`` (stripped) as typed."""
    escaped = (
        text.strip()
        .replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )
    return f"%{escaped}%"
