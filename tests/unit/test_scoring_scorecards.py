"""Scorecards: interpolation between threshold points, the defaults, and validation."""

from __future__ import annotations

import math
from typing import Any

import pytest

from services.scoring.domain.measures import MEASURE_NAMES
from services.scoring.domain.scorecards import (
    DEFAULT_SCORECARDS,
    FieldProblem,
    InvalidScorecard,
    Scorecard,
    sub_score,
    validate_scorecard,
)


def plain(card: Scorecard) -> tuple[dict[str, Any], dict[str, Any]]:
    """A scorecard as the API would receive it: plain dicts and lists."""
    return dict(card.weights), {k: [list(p) for p in v] for k, v in card.thresholds.items()}


def fields(problems: list[FieldProblem]) -> list[str]:
    return [p.field for p in problems]


def test_sub_score_interpolates_and_clamps() -> None:
    points = [(0.0, 0.0), (10.0, 50.0), (20.0, 100.0)]
    assert sub_score(points, -5) == 0
    assert sub_score(points, 0) == 0
    assert sub_score(points, 5) == 25
    assert sub_score(points, 10) == 50
    assert sub_score(points, 15) == 75
    assert sub_score(points, 20) == 100
    assert sub_score(points, 1e9) == 100
    falling = [(1.0, 100.0), (7.0, 70.0), (30.0, 0.0)]
    assert sub_score(falling, 0) == 100
    assert sub_score(falling, 4) == 85
    assert sub_score(falling, 45) == 0


@pytest.mark.parametrize("motion", ["smb", "mid_market", "enterprise"])
def test_defaults_are_valid_and_complete(motion: str) -> None:
    card = DEFAULT_SCORECARDS[motion]  # type: ignore[index]
    assert card.motion == motion
    assert card.version == 1
    assert validate_scorecard(*plain(card)) == []
    assert set(card.weights) == set(MEASURE_NAMES) == set(card.thresholds)
    assert math.fsum(card.weights.values()) == 100


def test_defaults_weigh_each_motion_as_documented() -> None:
    smb, ent = DEFAULT_SCORECARDS["smb"].weights, DEFAULT_SCORECARDS["enterprise"].weights
    assert ent["champion_present"] > smb["champion_present"]
    assert ent["support_burden"] > smb["support_burden"]
    assert smb["login_recency"] > ent["login_recency"]
    usage = ("active_user_ratio", "core_feature_breadth", "key_action_trend")
    assert sum(smb[m] for m in usage) > sum(ent[m] for m in usage)


def test_an_invalid_scorecard_cannot_be_built() -> None:
    weights, thresholds = plain(DEFAULT_SCORECARDS["smb"])
    weights["nps"] = 6
    with pytest.raises(InvalidScorecard, match="weights sum to 101") as raised:
        Scorecard(motion="smb", version=2, weights=weights, thresholds=thresholds)
    assert raised.value.problems == [FieldProblem("weights", "weights sum to 101, not 100")]


def test_a_scorecard_keeps_its_own_read_only_copy() -> None:
    weights, thresholds = plain(DEFAULT_SCORECARDS["smb"])
    card = Scorecard(motion="smb", version=2, weights=weights, thresholds=thresholds)
    weights["nps"] = 50
    thresholds["nps"][0][1] = 99
    assert card.weights["nps"] == 5
    assert card.thresholds["nps"][0] == (0.0, 0.0)
    with pytest.raises(TypeError):
        card.weights["nps"] = 1  # type: ignore[index]


def test_weights_within_float_tolerance_of_100_pass() -> None:
    _, thresholds = plain(DEFAULT_SCORECARDS["smb"])
    weights = {n: 0.0 for n in MEASURE_NAMES}
    weights["nps"], weights["csat"], weights["integrations"] = 33.3, 33.3, 33.4
    assert validate_scorecard(weights, thresholds) == []
    weights["csat"] += 1e-12
    assert validate_scorecard(weights, thresholds) == []
    weights["csat"] += 1e-8
    assert fields(validate_scorecard(weights, thresholds)) == ["weights"]


def mutated(change: Any) -> list[FieldProblem]:
    weights, thresholds = plain(DEFAULT_SCORECARDS["smb"])
    change(weights, thresholds)
    return validate_scorecard(weights, thresholds)


def test_unknown_and_missing_measures_are_named() -> None:
    def rename(w: dict[str, Any], t: dict[str, Any]) -> None:
        w["promoters"] = w.pop("nps")
        t["promoters"] = t.pop("nps")

    problems = mutated(rename)
    assert fields(problems) == [
        "weights.promoters",
        "weights.nps",
        "thresholds.promoters",
        "thresholds.nps",
    ]
    assert "unknown measure 'promoters'" in problems[0].message
    assert problems[1].message.startswith("missing")


def test_negative_weight_and_bad_sum() -> None:
    def negative(w: dict[str, Any], t: dict[str, Any]) -> None:
        w["nps"] = -5
        w["csat"] = 15

    problems = mutated(negative)
    assert [(p.field, p.message) for p in problems] == [
        ("weights.nps", "is -5; a weight cannot be negative")
    ]

    def short(w: dict[str, Any], t: dict[str, Any]) -> None:
        w["nps"] = 0

    assert [(p.field, p.message) for p in mutated(short)] == [
        ("weights", "weights sum to 95, not 100")
    ]


@pytest.mark.parametrize("huge", [101, 1e308])
def test_a_weight_past_the_total_is_named_and_never_summed(huge: float) -> None:
    def heavy(w: dict[str, Any], t: dict[str, Any]) -> None:
        w["nps"] = huge
        w["csat"] = huge

    problems = mutated(heavy)
    assert fields(problems) == ["weights.nps", "weights.csat"]
    assert problems[0].message.endswith("a weight is at most 100")


@pytest.mark.parametrize("bad", [math.nan, math.inf, "ten", None, True])
def test_weights_must_be_finite_numbers(bad: Any) -> None:
    def spoil(w: dict[str, Any], t: dict[str, Any]) -> None:
        w["csat"] = bad

    assert [(p.field, p.message) for p in mutated(spoil)] == [
        ("weights.csat", "must be a finite number")
    ]


def test_threshold_point_problems_name_the_point() -> None:
    def spoil(w: dict[str, Any], t: dict[str, Any]) -> None:
        t["login_recency"] = [[1, 100], [7, 70], [7, 30], [30, 0]]  # value repeats at [2]
        t["nps"] = [[0, 0], [6, 140], [10, 100]]  # [1] out of range, [2] falls
        t["support_burden"] = [[0, 100], [2, 60], [5, 80]]  # lower is better: [2] rises
        t["csat"] = [[1, 0]]
        t["champion_present"] = [[0, 0], [1]]

    problems = mutated(spoil)
    assert fields(problems) == [
        "thresholds.login_recency[2]",
        "thresholds.support_burden[2]",
        "thresholds.nps[1]",
        "thresholds.nps[2]",
        "thresholds.csat",
        "thresholds.champion_present[1]",
    ]
    text = {p.field: p.message for p in problems}
    assert "strictly increase" in text["thresholds.login_recency[2]"]
    assert "may not rise" in text["thresholds.support_burden[2]"]
    assert text["thresholds.nps[1]"] == "sub-score 140 is outside 0..100"
    assert "may not fall" in text["thresholds.nps[2]"]
    assert "at least 2" in text["thresholds.csat"]
    assert "two numbers" in text["thresholds.champion_present[1]"]


@pytest.mark.parametrize(
    "points",
    [[], "1,2", [[0, 0], [1, math.nan]], [[0, 0], [math.inf, 100]], [[0, 0], [1, 50, 3]]],
)
def test_malformed_points_are_refused(points: Any) -> None:
    def spoil(w: dict[str, Any], t: dict[str, Any]) -> None:
        t["champion_present"] = points

    problems = mutated(spoil)
    assert problems
    assert all(p.field.startswith("thresholds.champion_present") for p in problems)


def test_decreasing_values_are_refused() -> None:
    def spoil(w: dict[str, Any], t: dict[str, Any]) -> None:
        t["integrations"] = [[2, 100], [1, 70], [0, 0]]

    assert fields(mutated(spoil)) == [
        "thresholds.integrations[1]",
        "thresholds.integrations[1]",
        "thresholds.integrations[2]",
        "thresholds.integrations[2]",
    ]


def test_a_sub_score_never_leaves_its_two_points_by_a_rounding() -> None:
    # Found by the property test: this line's end computes as 100.00000000000001.
    x0, x1 = -6.618344288753493, 0.00014032155947698427
    assert sub_score([(x0, 0), (x1, 100)], x1) == 100
    assert 0 <= sub_score([(x0, 100), (x1, 0)], x1) <= 100
