"""The scorecard form and the back-test's figures (pure): a scorecard as the fields a person
edits, those fields read back into the API's body, and churn by colour as a chart's bars.

The rules a scorecard must keep (weights summing to 100, monotonic thresholds) are scoring's
own: the console only reads what was typed as numbers and passes it on, so the API's words
come back on the form. Text that is not numbers at all is refused here, naming the field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

COLOURS = ("red", "yellow", "green")
# A threshold point is typed as "value:sub-score"; points are separated by commas.
_POINT = re.compile(r"^\s*([^:\s]+)\s*:\s*([^:\s]+)\s*$")


def number_text(value: float) -> str:
    """A number as a person types it: ``20`` not ``20.0``, ``0.25`` as is."""
    return f"{value:g}"


def points_text(points: Iterable[Sequence[float]]) -> str:
    """Threshold points as the form shows them: ``1:100, 7:70, 14:30``."""
    return ", ".join(f"{number_text(v)}:{number_text(s)}" for v, s in points)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_points(text: str) -> list[list[float]]:
    """``1:100, 7:70`` as ``[[1, 100], [7, 70]]``; ``ValueError`` saying what is not a
    point (the API says whether the points keep its rules)."""
    parts = [p for p in text.split(",") if p.strip()]
    if not parts:
        raise ValueError("give the points as value:sub-score, separated by commas")
    points: list[list[float]] = []
    for n, part in enumerate(parts, start=1):
        found = _POINT.match(part)
        value = _number(found.group(1)) if found else None
        sub = _number(found.group(2)) if found else None
        if value is None or sub is None:
            raise ValueError(f"point {n} ({part.strip()!r}) is not value:sub-score, two numbers")
        points.append([value, sub])
    return points


def weight_field(measure: str) -> str:
    """The form field of a measure's weight."""
    return f"weight-{measure}"


def thresholds_field(measure: str) -> str:
    """The form field of a measure's thresholds."""
    return f"thresholds-{measure}"


def field_of(pointer: str) -> str:
    """The form field an API error's JSON pointer names: ``/weights/nps`` is ``weight-nps``,
    ``/thresholds/nps/2`` is ``thresholds-nps``, ``/weights`` (the sum) is ``weights``."""
    parts = [p for p in pointer.split("/") if p]
    if len(parts) >= 2 and parts[0] == "weights":
        return weight_field(parts[1])
    if len(parts) >= 2 and parts[0] == "thresholds":
        return thresholds_field(parts[1])
    return parts[0] if parts else "scorecard"


@dataclass
class ScorecardForm:
    """The editor's fields as typed (or as the scorecard in force has them), and what is
    wrong with each (by field name)."""

    weights: dict[str, str]
    thresholds: dict[str, str]
    comment: str = ""
    problems: dict[str, str] = field(default_factory=dict)

    def problem(self, name: str) -> str | None:
        """What is wrong with the field ``name``, if anything."""
        return self.problems.get(name)


def form_of(scorecard: Mapping[str, Any]) -> ScorecardForm:
    """The editor filled with a scorecard as the API gives it."""
    weights = {m: number_text(float(w)) for m, w in (scorecard.get("weights") or {}).items()}
    thresholds = {m: points_text(p) for m, p in (scorecard.get("thresholds") or {}).items()}
    return ScorecardForm(weights, thresholds)


def read_form(fields: Mapping[str, str], measures: Sequence[str]) -> ScorecardForm:
    """The editor as the person sent it back, every measure's two fields."""
    return ScorecardForm(
        weights={m: fields.get(weight_field(m), "").strip() for m in measures},
        thresholds={m: fields.get(thresholds_field(m), "").strip() for m in measures},
        comment=fields.get("comment", "").strip(),
    )


def body_of(form: ScorecardForm) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The API's scorecard body from the form, or None and each field's problem when some
    field is not numbers at all."""
    problems: dict[str, str] = {}
    weights: dict[str, float] = {}
    thresholds: dict[str, list[list[float]]] = {}
    for measure, text in form.weights.items():
        value = _number(text)
        if value is None:
            problems[weight_field(measure)] = f"the weight of {measure} must be a number"
        else:
            weights[measure] = value
    for measure, text in form.thresholds.items():
        try:
            thresholds[measure] = parse_points(text)
        except ValueError as exc:
            problems[thresholds_field(measure)] = f"{measure}: {exc}"
    if problems:
        return None, problems
    body: dict[str, Any] = {"weights": weights, "thresholds": thresholds}
    if form.comment:
        body["comment"] = form.comment
    return body, {}


def problems_of(errors: Mapping[str, str]) -> dict[str, str]:
    """An API problem's per-pointer errors by the form field they name (several on one field
    joined)."""
    problems: dict[str, str] = {}
    for pointer, detail in errors.items():
        name = field_of(pointer)
        problems[name] = f"{problems[name]}; {detail}" if name in problems else detail
    return problems


def percent(rate: float | None) -> str:
    """A share in 0..1 as ``12.5 %``; ``—`` when there is none."""
    return "—" if rate is None else f"{rate * 100:.1f} %"


def churn_bars(by_colour: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, int]]:
    """The back-test's churn rate per colour as bars (tenths of a percent, so the bar
    heights keep the rates' order), red, yellow, green."""
    bars = []
    for colour in COLOURS:
        rate = (by_colour.get(colour) or {}).get("churn_rate")
        bars.append((colour, round(rate * 1000) if rate is not None else 0))
    return bars


def churn_alternative(by_colour: Mapping[str, Mapping[str, Any]]) -> str:
    """The chart's text alternative: each colour's churn rate and its counts."""
    parts = []
    for colour in COLOURS:
        group = by_colour.get(colour) or {}
        parts.append(
            f"{colour}: {percent(group.get('churn_rate'))} churned"
            f" ({group.get('churned', 0)} of {group.get('renewals', 0)} renewals)"
        )
    return "Churn rate by colour 90 days before renewal: " + "; ".join(parts)
