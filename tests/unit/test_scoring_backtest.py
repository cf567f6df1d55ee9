"""The back-test's arithmetic, against hand counts."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.scoring.domain.backtest import Case, auc, backtest, scored_on_or_before

RENEWAL = date(2030, 6, 15)  # an arbitrary base day, never compared with today


def case(score: float | None, outcome: str, colour: str | None = None) -> Case:
    return Case("a", RENEWAL, outcome, score, colour)  # type: ignore[arg-type]


def test_auc_by_hand() -> None:
    # Stayers 80, 60, 40; churners 50, 30. Pairs (stayer > churner): 80>50, 80>30, 60>50,
    # 60>30, 40>30 = 5 of 6.
    assert auc([80, 60, 40], [50, 30]) == pytest.approx(5 / 6)
    # A tie counts half: stayer 50 vs churners 50 and 40 -> (0.5 + 1) / 2.
    assert auc([50], [50, 40]) == pytest.approx(0.75)
    assert auc([10], [90]) == 0.0
    assert auc([], [1]) is None
    assert auc([1], []) is None


@given(
    st.lists(st.floats(0, 100), min_size=1, max_size=30),
    st.lists(st.floats(0, 100), min_size=1, max_size=30),
)
def test_auc_is_the_share_of_pairs_the_stayer_wins(
    stayers: list[float], churners: list[float]
) -> None:
    wins = sum(1.0 if s > c else 0.5 if s == c else 0.0 for s in stayers for c in churners)
    assert auc(stayers, churners) == pytest.approx(wins / (len(stayers) * len(churners)))


def test_churn_by_colour_and_what_the_verdict_says() -> None:
    cases = [
        case(20, "churned", "red"),
        case(30, "renewed", "red"),
        case(55, "churned", "yellow"),
        case(60, "contracted", "yellow"),
        case(85, "expanded", "green"),
        case(90, "renewed", "green"),
        case(None, "churned"),
    ]
    result = backtest(cases)
    assert (result.renewals, result.unscored, result.churned, result.stayed) == (7, 1, 2, 4)
    assert result.by_colour["red"].churn_rate == 0.5
    assert result.by_colour["yellow"].churn_rate == 0.5
    assert result.by_colour["green"].churn_rate == 0.0
    # Stayers 30, 60, 85, 90 against churners 20, 55: 4 + 3 = 7 of 8 pairs.
    assert result.auc == pytest.approx(7 / 8)
    assert result.verdict.startswith("separates churners")

    flat = backtest([case(50, "churned", "yellow"), case(50, "renewed", "yellow")])
    assert flat.auc == 0.5
    assert flat.verdict.startswith("does not separate")
    inverted = backtest([case(90, "churned", "green"), case(10, "renewed", "red")])
    assert inverted.verdict.startswith("points the wrong way")
    assert backtest([case(80, "renewed", "green")]).verdict.startswith("not enough outcomes")


def test_the_score_comes_from_up_to_90_days_before_the_renewal() -> None:
    first, last = scored_on_or_before(RENEWAL)
    assert (RENEWAL - last).days == 90
    assert (last - first).days == 30
