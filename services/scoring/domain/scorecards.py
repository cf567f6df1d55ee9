"""Scorecards: how much each measure weighs and how its raw value maps to a 0-100 sub-score.

A scorecard has a weight per measure (>= 0, all summing to 100) and thresholds per measure:
two or more points ``[value, sub_score]`` with values strictly increasing and sub-scores
within 0..100 that move the measure's way (never falling as the value rises for a
higher-is-better measure, never rising for a lower-is-better one). A raw value's sub-score is
the straight line between the two points around it, and the end point's sub-score beyond
either end. That shape keeps every scorecard monotonic, so a better signal can never lower a
score, whatever an admin types in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from types import MappingProxyType

from services.scoring.domain.measures import MEASURE_NAMES, MEASURES
from shared.contracts import MotionSegment

Point = tuple[float, float]
# Weights are compared to 100 with this tolerance: 33.3 + 33.3 + 33.4 is 100 to a person.
WEIGHT_TOLERANCE = 1e-9
WEIGHT_TOTAL = 100.0


@dataclass(frozen=True)
class FieldProblem:
    """What is wrong with one field of a scorecard: a field path and a plain-English message.

    Paths: ``weights``, ``weights.<measure>``, ``thresholds``, ``thresholds.<measure>``,
    ``thresholds.<measure>[<point index>]``. The API turns each into a 422 naming the field.
    """

    field: str
    message: str


class InvalidScorecard(ValueError):
    """A scorecard was built from weights or thresholds that do not validate."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Scorecard:
    """A validated scorecard for one motion segment, at one version.

    Built from plain mappings and lists (as stored or received); raises ``InvalidScorecard``
    with every problem when they do not validate. Once built, its weights and thresholds are
    read-only copies, in ``MEASURE_NAMES`` order, thresholds as tuples of (value, sub_score).
    """

    motion: MotionSegment
    version: int
    weights: Mapping[str, float]
    thresholds: Mapping[str, Sequence[Sequence[float]]]

    def __post_init__(self) -> None:
        problems = validate_scorecard(self.weights, self.thresholds)
        if problems:
            raise InvalidScorecard(problems)
        # Copies, so the caller's dicts changing later cannot change a scorecard in use.
        weights = {n: float(self.weights[n]) for n in MEASURE_NAMES}
        thresholds = {
            n: tuple((float(v), float(s)) for v, s in self.thresholds[n]) for n in MEASURE_NAMES
        }
        object.__setattr__(self, "weights", MappingProxyType(weights))
        object.__setattr__(self, "thresholds", MappingProxyType(thresholds))


def _finite(x: object) -> bool:
    # bool is an int to Python, but "true" is not a weight anyone meant.
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _fmt(x: float) -> str:
    return f"{x:g}"


def _measure_set_problems(section: str, names: Sequence[str]) -> list[FieldProblem]:
    problems = [
        FieldProblem(f"{section}.{n}", f"unknown measure {n!r}; known: {', '.join(MEASURE_NAMES)}")
        for n in names
        if n not in MEASURES
    ]
    problems += [
        FieldProblem(f"{section}.{n}", f"missing: every measure needs {section} ({n} has none)")
        for n in MEASURE_NAMES
        if n not in names
    ]
    return problems


def _weight_problems(weights: Mapping[str, float]) -> list[FieldProblem]:
    problems = _measure_set_problems("weights", list(weights))
    all_finite = True
    for name, weight in weights.items():
        if not _finite(weight):
            all_finite = False
            problems.append(FieldProblem(f"weights.{name}", "must be a finite number"))
        elif weight < 0:
            problems.append(
                FieldProblem(f"weights.{name}", f"is {_fmt(weight)}; a weight cannot be negative")
            )
        elif weight > WEIGHT_TOTAL:
            all_finite = False  # past the total on its own: a sum would say nothing more
            problems.append(
                FieldProblem(f"weights.{name}", f"is {_fmt(weight)}; a weight is at most 100")
            )
    # A sum is only worth reporting when every term is a number.
    if all_finite:
        total = math.fsum(weights.values())
        if abs(total - WEIGHT_TOTAL) > WEIGHT_TOLERANCE:
            problems.append(FieldProblem("weights", f"weights sum to {_fmt(total)}, not 100"))
    return problems


def _point_problems(name: str, points: Sequence[Sequence[float]]) -> list[FieldProblem]:
    path = f"thresholds.{name}"
    if isinstance(points, str | bytes) or not isinstance(points, Sequence):
        return [FieldProblem(path, "must be a list of [value, sub_score] points")]
    if len(points) < 2:
        return [FieldProblem(path, f"has {len(points)} point(s); at least 2 are needed")]
    measure = MEASURES.get(name)
    problems: list[FieldProblem] = []
    previous: tuple[float, float] | None = None
    for i, point in enumerate(points):
        where = f"{path}[{i}]"
        if (
            isinstance(point, str | bytes)
            or not isinstance(point, Sequence)
            or len(point) != 2
            or not all(_finite(x) for x in point)
        ):
            problems.append(FieldProblem(where, "a point is [value, sub_score], two numbers"))
            previous = None  # nothing sound to compare the next point against
            continue
        value, sub = float(point[0]), float(point[1])
        if not 0 <= sub <= 100:
            problems.append(FieldProblem(where, f"sub-score {_fmt(sub)} is outside 0..100"))
        if previous is not None:
            prev_value, prev_sub = previous
            if value <= prev_value:
                problems.append(
                    FieldProblem(
                        where,
                        f"value {_fmt(value)} must be above the previous point's "
                        f"{_fmt(prev_value)} (values strictly increase)",
                    )
                )
            if measure is not None and measure.higher_is_better and sub < prev_sub:
                problems.append(
                    FieldProblem(
                        where,
                        f"sub-score {_fmt(sub)} falls below the previous {_fmt(prev_sub)}, "
                        f"but a higher {name} is better, so sub-scores may not fall",
                    )
                )
            if measure is not None and not measure.higher_is_better and sub > prev_sub:
                problems.append(
                    FieldProblem(
                        where,
                        f"sub-score {_fmt(sub)} rises above the previous {_fmt(prev_sub)}, "
                        f"but a lower {name} is better, so sub-scores may not rise",
                    )
                )
        previous = (value, sub)
    return problems


def validate_scorecard(
    weights: Mapping[str, float], thresholds: Mapping[str, Sequence[Sequence[float]]]
) -> list[FieldProblem]:
    """Every problem with a proposed scorecard, in a stable order; [] when it is sound."""
    problems = _weight_problems(weights)
    problems += _measure_set_problems("thresholds", list(thresholds))
    # Measures in their fixed order, whatever order the request listed them in.
    ordered = [n for n in MEASURE_NAMES if n in thresholds]
    ordered += [n for n in thresholds if n not in MEASURES]
    for name in ordered:
        problems += _point_problems(name, thresholds[name])
    return problems


def sub_score(points: Sequence[Sequence[float]], value: float) -> float:
    """The sub-score of ``value``: linear between the points around it, clamped at the ends."""
    first_value, first_sub = points[0]
    if value <= first_value:
        return first_sub
    for (x0, y0), (x1, y1) in pairwise(points):
        if value <= x1:
            between = y0 + (y1 - y0) * (value - x0) / (x1 - x0)
            # Floating point can land a hair outside the two points (100.00000000000001):
            # the line never leaves them, so neither does the sub-score.
            return min(max(between, min(y0, y1)), max(y0, y1))
    return points[-1][1]


def _card(
    motion: MotionSegment, weights: Mapping[str, float], thresholds: Mapping[str, list[Point]]
) -> Scorecard:
    return Scorecard(motion=motion, version=1, weights=weights, thresholds=thresholds)


# --- Defaults --------------------------------------------------------------------------------
# Thresholds shared by every motion: scales that mean the same whatever the account's size.
_SHARED: dict[str, list[Point]] = {
    # Four core features in the default event map; using all of them is full marks.
    "core_feature_breadth": [(0, 0), (1, 30), (2, 60), (3, 85), (4, 100)],
    # Flat usage is healthy (70); a fall of 60% or more is an alarm; +25% is full marks.
    "key_action_trend": [(-60, 0), (-25, 40), (0, 70), (25, 100)],
    # NPS: detractors (0-6) reach at most 40, passives (7-8) up to 75, promoters above.
    "nps": [(0, 0), (6, 40), (8, 75), (10, 100)],
    # CSAT: 3 of 5 is neutral (50); 5 is full marks.
    "csat": [(1, 0), (3, 50), (4, 80), (5, 100)],
    # One failed payment halves the sub-score; three in 60 days is a billing emergency.
    "payment_failures": [(0, 100), (1, 50), (3, 0)],
    "champion_present": [(0, 0), (1, 100)],
}

# SMB: a few users, self-serve, monthly billing. Usage is the signal there is (login
# recency 20, active users 15, breadth 15, trend 10); monthly cards fail, so payment
# failures weigh 15; there is rarely a named champion or a CSM reading NPS.
_SMB_WEIGHTS = {
    "login_recency": 20,
    "active_user_ratio": 15,
    "core_feature_breadth": 15,
    "key_action_trend": 10,
    "integrations": 5,
    "support_burden": 5,
    "nps": 5,
    "csat": 5,
    "payment_failures": 15,
    "champion_present": 5,
}
_SMB_THRESHOLDS = _SHARED | {
    # Small teams do skip a few days; two weeks without a login is serious.
    "login_recency": [(1, 100), (7, 70), (14, 30), (30, 0)],
    "active_user_ratio": [(0, 0), (0.2, 30), (0.5, 70), (0.8, 100)],
    "integrations": [(0, 0), (1, 70), (2, 100)],
    "support_burden": [(0, 100), (2, 60), (5, 20), (8, 0)],
}

# Mid-market: pooled CSMs, annual contracts. A balance of usage (login 12, active users 15,
# breadth 12, trend 10) with depth (integrations 10), support 10 and relationship
# (champion 10, NPS 8).
_MID_MARKET_WEIGHTS = {
    "login_recency": 12,
    "active_user_ratio": 15,
    "core_feature_breadth": 12,
    "key_action_trend": 10,
    "integrations": 10,
    "support_burden": 10,
    "nps": 8,
    "csat": 5,
    "payment_failures": 8,
    "champion_present": 10,
}
_MID_MARKET_THRESHOLDS = _SHARED | {
    # With dozens of users someone logs in most days; a week of silence is already a warning.
    "login_recency": [(1, 100), (7, 60), (14, 20), (30, 0)],
    "active_user_ratio": [(0, 0), (0.2, 30), (0.5, 70), (0.8, 100)],
    "integrations": [(0, 0), (1, 50), (3, 100)],
    "support_burden": [(0, 100), (3, 70), (8, 30), (15, 0)],
}

# Enterprise: high touch, multi-threaded. Churn follows champion turnover and support pain
# (champion 18, support 15), integration depth (12) and sentiment (NPS 10); one stale login
# matters little (5) and invoices rarely fail (5).
_ENTERPRISE_WEIGHTS = {
    "login_recency": 5,
    "active_user_ratio": 12,
    "core_feature_breadth": 10,
    "key_action_trend": 8,
    "integrations": 12,
    "support_burden": 15,
    "nps": 10,
    "csat": 5,
    "payment_failures": 5,
    "champion_present": 18,
}
_ENTERPRISE_THRESHOLDS = _SHARED | {
    # Hundreds of users: any gap at all in logins means the account has gone quiet.
    "login_recency": [(1, 100), (3, 60), (7, 20), (14, 0)],
    # Enterprises buy seats ahead of rollout, so 60% active is already full marks.
    "active_user_ratio": [(0, 0), (0.1, 20), (0.3, 60), (0.6, 100)],
    "integrations": [(0, 0), (2, 50), (5, 100)],
    # A large account always has some tickets open; weigh the backlog against its size.
    "support_burden": [(0, 100), (5, 70), (15, 30), (30, 0)],
}

DEFAULT_SCORECARDS: Mapping[MotionSegment, Scorecard] = MappingProxyType(
    {
        "smb": _card("smb", _SMB_WEIGHTS, _SMB_THRESHOLDS),
        "mid_market": _card("mid_market", _MID_MARKET_WEIGHTS, _MID_MARKET_THRESHOLDS),
        "enterprise": _card("enterprise", _ENTERPRISE_WEIGHTS, _ENTERPRISE_THRESHOLDS),
    }
)
