"""Binding lists as one array parameter."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Text, bindparam
from sqlalchemy.dialects.postgresql import ARRAY


def text_array(values: list[str]) -> Any:
    """A list bound as one text[] parameter (``= ANY``), not one parameter per element."""
    return bindparam(None, values, type_=ARRAY(Text))
