"""Tiers by active seats and contract timing: days since start, days to renewal, windows."""

from __future__ import annotations

import pytest

from services.scoring.domain.renewal import (
    days_since_contract_start,
    days_to_renewal,
    renewal_window,
)
from services.scoring.domain.tiers import tier
from tests.unit.scoring_factory import AS_OF, ago


@pytest.mark.parametrize(
    ("active_seats", "expected"),
    [(0, "silver"), (25, "silver"), (26, "gold"), (100, "gold"), (101, "platinum")],
)
def test_tier_by_active_seats(active_seats: int, expected: str) -> None:
    assert tier(active_seats) == expected


def test_days_since_contract_start() -> None:
    assert days_since_contract_start(ago(200), AS_OF) == 200
    assert days_since_contract_start(AS_OF, AS_OF) == 0
    assert days_since_contract_start(ago(-3), AS_OF) == -3  # starts in three days
    assert days_since_contract_start(None, AS_OF) is None


def test_days_to_renewal_goes_negative_once_passed() -> None:
    assert days_to_renewal(ago(-45), AS_OF) == 45
    assert days_to_renewal(AS_OF, AS_OF) == 0
    assert days_to_renewal(ago(1), AS_OF) == -1
    assert days_to_renewal(None, AS_OF) is None


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (121, None),
        (120, 120),
        (91, 120),
        (90, 90),
        (61, 90),
        (60, 60),
        (1, 60),
        (0, 60),  # renewal day itself
        (-1, None),  # passed
        (-400, None),
        (None, None),
    ],
)
def test_renewal_window_boundaries(days: int | None, expected: int | None) -> None:
    assert renewal_window(days) == expected
