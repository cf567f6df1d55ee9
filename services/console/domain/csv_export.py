"""Tables as CSV downloads (pure), safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

# A cell a spreadsheet would run as a formula (CSV injection, OWASP): prefixed with a quote.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)  # a number (negative ones too) stays a number
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A CSV document: ``header`` then ``rows``; text cells that would be read as formulas
    are neutralised, numbers are left as they are."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([_cell(h) for h in header])
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()
