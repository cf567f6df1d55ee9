"""The sample ratio mismatch test in pure code, against known chi-square values."""

from __future__ import annotations

import pytest

from services.offers.domain.sample_ratio import (
    SRM_ALPHA,
    chi_square_p_value_1df,
    chi_square_two_groups,
    mismatch_warning,
    sample_ratio,
)


@pytest.mark.parametrize(
    ("statistic", "p"),
    [
        (0.0, 1.0),
        (1.0, 0.3173105078629141),  # P(|Z| > 1)
        (3.841458820694124, 0.05),  # the chi-square(1) table's critical values
        (6.634896601021214, 0.01),
        (10.827566170662733, 0.001),
    ],
)
def test_p_values_of_chi_square_with_one_degree_of_freedom(statistic: float, p: float) -> None:
    assert chi_square_p_value_1df(statistic) == pytest.approx(p, rel=1e-9)


def test_a_negative_statistic_is_refused() -> None:
    with pytest.raises(ValueError):
        chi_square_p_value_1df(-0.1)


def test_the_statistic_by_hand() -> None:
    # 60 against 40 where 50/50 was expected: (10²/50) + (10²/50) = 4.
    assert chi_square_two_groups(60, 40, 0.5) == pytest.approx(4.0)
    # 20 held out of 100 against 10 %: (20-10)²/10 + (80-90)²/90 = 10 + 1.111… = 11.111…
    assert chi_square_two_groups(20, 80, 0.1) == pytest.approx(100 / 9)
    with pytest.raises(ValueError):
        chi_square_two_groups(1, 5, 0.0)


def test_a_split_on_target_is_no_mismatch() -> None:
    result = sample_ratio(treated=900, holdout=100, target_holdout_share=0.1)
    assert result.observed_holdout_share == pytest.approx(0.1)
    assert result.chi_square == pytest.approx(0.0)
    assert result.p_value == pytest.approx(1.0)
    assert not result.mismatch
    assert mismatch_warning(result) is None


def test_chance_variation_is_no_mismatch_but_a_badly_off_split_is() -> None:
    # 115 of 1,000 at 10 %: chi-square 2.5, p ≈ 0.114.
    near = sample_ratio(885, 115, 0.1)
    assert near.chi_square == pytest.approx(2.5)
    assert near.p_value == pytest.approx(0.1138462980066, rel=1e-6)
    assert not near.mismatch
    # 150 of 1,000: chi-square 27.78, p ≈ 1.4e-7.
    off = sample_ratio(850, 150, 0.1)
    assert off.chi_square == pytest.approx(250 / 9)
    assert off.p_value is not None
    assert off.p_value < SRM_ALPHA
    assert off.mismatch
    warning = mismatch_warning(off)
    assert warning is not None
    assert "150 of 1000 accounts (15.0%)" in warning
    assert "target of 10.0%" in warning


def test_the_threshold_is_p_below_one_in_a_thousand() -> None:
    # 50/50 split over 400: 232 held out gives chi-square 10.24 (p ≈ 0.00137), 234 gives
    # 11.56 (p ≈ 0.00067).
    assert not sample_ratio(168, 232, 0.5).mismatch
    assert sample_ratio(166, 234, 0.5).mismatch


def test_too_few_accounts_or_no_holdout_make_no_test() -> None:
    empty = sample_ratio(0, 0, 0.1)
    assert (empty.observed_holdout_share, empty.chi_square, empty.mismatch) == (None, None, False)
    # 40 accounts at 10 %: 4 expected held out, under 5.
    small = sample_ratio(30, 10, 0.1)
    assert small.observed_holdout_share == 0.25
    assert (small.chi_square, small.p_value, small.mismatch) == (None, None, False)
    none = sample_ratio(500, 0, 0.0)
    assert (none.chi_square, none.mismatch) == (None, False)
    with pytest.raises(ValueError):
        sample_ratio(1, 1, 1.5)
