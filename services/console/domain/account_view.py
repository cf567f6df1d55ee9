"""One account's page, computed from the services' answers (pure): each measure's points
earned and missed, the 90-day trend and its words, the milestones, and the override form."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, get_args

from markupsafe import Markup

from services.console.domain.charts import BAD, GOOD, Segment, stacked_bar
from shared.contracts import Milestone

MILESTONES: tuple[str, ...] = get_args(Milestone)
TREND_DAYS = 90
# What a browser's datetime-local input sends: a wall-clock time with no offset.
_LOCAL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")


_ACRONYMS = {"nps": "NPS", "csat": "CSAT"}


@dataclass(frozen=True)
class Contribution:
    """What one measure did for the score: the points it could give (its effective
    weight), those it earned and those it missed."""

    measure: str
    raw: float | None
    missing: bool
    sub_score: float | None
    weight: float
    effective_weight: float
    earned: float
    missed: float

    @property
    def words(self) -> str:
        """The row said in words (the bar's text alternative)."""
        if self.missing:
            return f"{self.label}: no data, its weight spread over the others"
        return (
            f"{self.label}: earned {self.earned:.1f} of {self.effective_weight:.1f} points,"
            f" missed {self.missed:.1f}"
        )

    @property
    def label(self) -> str:
        """The measure's name in words (NPS and CSAT as the acronyms they are)."""
        return _ACRONYMS.get(self.measure) or self.measure.replace("_", " ").capitalize()


def contributions(measures: Sequence[Mapping[str, Any]]) -> list[Contribution]:
    """Each measure of a snapshot as earned and missed points, those that missed the most
    first (the reasons for the colour lead), measures with no data last."""
    rows = [
        Contribution(
            measure=str(m["measure"]),
            raw=m.get("raw"),
            missing=bool(m.get("missing")),
            sub_score=m.get("sub_score"),
            weight=float(m.get("weight") or 0),
            effective_weight=float(m.get("effective_weight") or 0),
            earned=float(m.get("contribution") or 0),
            missed=float(m.get("lost") or 0),
        )
        for m in measures
    ]
    return sorted(rows, key=lambda r: (r.missing, -r.missed, r.measure))


def contribution_bar(row: Contribution) -> Markup:
    """A measure's points as a bar of its effective weight: earned (green) then missed
    (red), with the row in words as its text alternative (tenths of a point, in integers)."""
    segments = [
        Segment(round(row.earned * 10), GOOD, "earned"),
        Segment(round(row.missed * 10), BAD, "missed"),
    ]
    return stacked_bar(segments, round(row.effective_weight * 10), row.words, width=160)


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def trend(
    points: Sequence[Mapping[str, Any]], today: date, days: int = TREND_DAYS
) -> list[float | None]:
    """The score on each of the ``days`` days up to ``today``, oldest first (None for a day
    not scored), from scoring's history points."""
    first = today - timedelta(days=days - 1)
    by_day = {_day(p["day"]): p.get("health_score") for p in points}
    return [by_day.get(first + timedelta(days=n)) for n in range(days)]


def trend_words(points: Sequence[Mapping[str, Any]], days: int = TREND_DAYS) -> str:
    """The trend's text alternative: first, last, lowest and highest score with their days."""
    scored = [
        (_day(p["day"]), float(p["health_score"]))
        for p in points
        if p.get("health_score") is not None
    ]
    if not scored:
        return f"Health over the last {days} days: no score yet."
    scored.sort()
    (first_day, first), (last_day, last) = scored[0], scored[-1]
    low_day, low = min(scored, key=lambda s: (s[1], s[0]))
    high_day, high = max(scored, key=lambda s: (s[1], s[0]))
    count = f"{len(scored)} day{'s' if len(scored) != 1 else ''} scored"
    return (
        f"Health over the last {days} days ({count}): first {first:.1f} on {first_day},"
        f" last {last:.1f} on {last_day}, lowest {low:.1f} on {low_day},"
        f" highest {high:.1f} on {high_day}."
    )


def milestones(reached: Mapping[str, Any]) -> list[tuple[str, date | None]]:
    """Every milestone in the contract's order, with the day it was first reached or None."""
    return [(m, _day(reached[m]) if reached.get(m) else None) for m in MILESTONES]


def expiry_for_api(text: str) -> str:
    """The override form's expiry as scoring takes it: a datetime-local value (no offset) is
    read as UTC, as the form says; anything else goes as typed, for scoring to judge."""
    value = text.strip()
    if _LOCAL_TIME.match(value):
        try:
            return datetime.fromisoformat(value).replace(tzinfo=UTC).isoformat()
        except ValueError:  # 2026-02-31T10:00: scoring says what is wrong with it
            return value
    return value


def expiry_default(now: datetime, days: int = 14) -> str:
    """A datetime-local value ``days`` ahead of ``now`` (UTC), to the minute."""
    return (now + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")


# The override form's fields by the JSON pointer scoring's problems name them with.
OVERRIDE_FIELDS = {"/colour": "colour", "/reason": "reason", "/expires_at": "expires_at"}


def field_errors(pointers: Mapping[str, str]) -> dict[str, str]:
    """Scoring's per-field errors as the override form's field names (others dropped: the
    problem's detail says them)."""
    return {OVERRIDE_FIELDS[p]: d for p, d in pointers.items() if p in OVERRIDE_FIELDS}
