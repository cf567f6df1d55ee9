"""The accounts list's filters and rows (pure): what a GET form's query means, what scoring's
``GET /v1/scores`` is asked, the links that keep the filters, and the CSV's columns."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, get_args
from urllib.parse import urlencode

from shared.contracts import Colour, MotionSegment, Segment, Tier

COLOURS: tuple[str, ...] = get_args(Colour)
SEGMENTS: tuple[str, ...] = get_args(Segment)
TIERS: tuple[str, ...] = get_args(Tier)
MOTIONS: tuple[str, ...] = get_args(MotionSegment)
RENEWAL_WINDOWS: tuple[int, ...] = (120, 90, 60)
# Scoring's own bound on a search (its ``q``), so the form says it before the API does.
MAX_SEARCH = 200


class BadFilter(ValueError):
    """A filter the list cannot take, by its field name and in words."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail


@dataclass(frozen=True)
class AccountFilters:
    """What the accounts list is narrowed by (None: not narrowed by it)."""

    q: str | None = None
    colour: str | None = None
    segment: str | None = None
    tier: str | None = None
    motion: str | None = None
    renewal_window: int | None = None
    health_above: float | None = None
    health_below: float | None = None

    def api_params(self) -> dict[str, str]:
        """The query of scoring's ``GET /v1/scores`` for these filters."""
        return {k: _text(v) for k, v in asdict(self).items() if v is not None}

    def query(self, **extra: str | None) -> str:
        """These filters as a query string (for the next page's link and the CSV's), with
        ``extra`` parameters (a cursor) after them; empty when there is nothing to say."""
        params = {**self.api_params(), **{k: v for k, v in extra.items() if v}}
        return urlencode(params)

    @property
    def any(self) -> bool:
        """Whether the list is narrowed at all."""
        return bool(self.api_params())


def _text(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _choice(raw: Mapping[str, str], field: str, allowed: tuple[str, ...]) -> str | None:
    value = raw.get(field, "").strip()
    if not value:
        return None
    if value not in allowed:
        raise BadFilter(field, f"{value!r} is not one of {', '.join(allowed)}")
    return value


def _health(raw: Mapping[str, str], field: str) -> float | None:
    value = raw.get(field, "").strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        raise BadFilter(field, f"{value!r} is not a number") from None
    if not math.isfinite(number) or not 0 <= number <= 100:
        raise BadFilter(field, "a health score is from 0 to 100")
    return number


def parse_filters(raw: Mapping[str, str]) -> AccountFilters:
    """The filters a GET form sent (an empty field: that filter is off); ``BadFilter`` for
    a value the list cannot take."""
    q = raw.get("q", "").strip()
    if len(q) > MAX_SEARCH:
        raise BadFilter("q", f"a search is at most {MAX_SEARCH} characters")
    window = _choice(raw, "renewal_window", tuple(str(w) for w in RENEWAL_WINDOWS))
    above, below = _health(raw, "health_above"), _health(raw, "health_below")
    if above is not None and below is not None and above >= below:
        raise BadFilter("health_below", "health below must be more than health above")
    return AccountFilters(
        q=q or None,
        colour=_choice(raw, "colour", COLOURS),
        segment=_choice(raw, "segment", SEGMENTS),
        tier=_choice(raw, "tier", TIERS),
        motion=_choice(raw, "motion", MOTIONS),
        renewal_window=int(window) if window else None,
        health_above=above,
        health_below=below,
    )


CSV_HEADER = (
    "account_id",
    "name",
    "colour",
    "computed_colour",
    "override_reason",
    "health_score",
    "segment",
    "tier",
    "motion_segment",
    "renewal_window",
    "days_to_renewal",
    "mrr_minor",
    "arr_minor",
    "currency",
)


def csv_row(snapshot: Mapping[str, Any]) -> list[Any]:
    """One account's CSV row from its snapshot, in ``CSV_HEADER``'s order (money stays in
    integer minor units, as the APIs give it)."""
    override = snapshot.get("override") or {}
    values = {**snapshot, "override_reason": override.get("reason")}
    return [values.get(column) for column in CSV_HEADER]


def label(name: str | None) -> str:
    """A code's words: ``mid_market`` as ``mid market``."""
    return (name or "—").replace("_", " ")
