"""Milestones: each one's rule and date, streak boundaries, and "once reached, stays reached"."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from services.scoring.domain.milestones import (
    key_action_streak_day,
    reached,
    weekly_streak_day,
)
from shared.contracts import AccountWindows, Milestone
from tests.unit.scoring_factory import AS_OF, ago, mask, windows


def quiet(**changes: Any) -> AccountWindows:
    """An account that has reached nothing: no key action, integration, streak or crowd."""
    fields: dict[str, Any] = {
        "key_actions": None,
        "integrations": None,
        "integrations_total": 0,
        "active_users_30": 3,
        "key_action_days": 0,
        "weekly_active_users": [1, 0, 1, 0, 1, 0, 1, 0],
    }
    fields.update(changes)
    return windows(**fields)


def test_nothing_reached() -> None:
    assert reached(quiet(), {}) == {}


def test_first_key_action_and_integration_are_their_first_days() -> None:
    got = reached(quiet(key_actions=(40, 2), integrations=(12, 3)), {})
    assert got == {"first_key_action": ago(40), "first_integration": ago(12)}


@pytest.mark.parametrize(("active", "reached_it"), [(9, False), (10, True), (250, True)])
def test_ten_active_users_dated_the_day_first_seen(active: int, reached_it: bool) -> None:
    got = reached(quiet(active_users_30=active), {})
    assert got == ({"ten_active_users": AS_OF} if reached_it else {})


# --- Key-action streak: bit i is day as_of - i ----------------------------------------------


def test_four_days_are_no_streak_five_are() -> None:
    assert key_action_streak_day(mask(10, 11, 12, 13), AS_OF) is None
    # Days 14..10 before as_of: the fifth day of the run is the latest, 10 days ago.
    assert key_action_streak_day(mask(10, 11, 12, 13, 14), AS_OF) == ago(10)


def test_a_gap_breaks_the_streak() -> None:
    assert key_action_streak_day(mask(1, 2, 4, 5, 6, 8, 9), AS_OF) is None
    assert key_action_streak_day(mask(0, 1, 2, 3, 5, 6, 7, 8), AS_OF) is None


def test_the_earliest_run_dates_the_streak() -> None:
    # Two runs: days 50..44 before (seven days) and 5..1; the first reaches five on day 46.
    days = [*range(44, 51), *range(1, 6)]
    assert key_action_streak_day(mask(*days), AS_OF) == ago(46)


def test_a_streak_at_the_edges_of_the_mask() -> None:
    assert key_action_streak_day(mask(59, 58, 57, 56, 55), AS_OF) == ago(55)
    assert key_action_streak_day(mask(4, 3, 2, 1, 0), AS_OF) == AS_OF
    # Bits beyond the 60 days ingest sends are ignored.
    assert key_action_streak_day(mask(60, 61, 62, 63, 64), AS_OF) is None


def test_streak_milestone_from_windows() -> None:
    got = reached(quiet(key_action_days=mask(20, 21, 22, 23, 24)), {})
    assert got == {"key_action_streak_5d": ago(20)}


# --- Weekly-active streak: [k] is the week ending as_of - 7k --------------------------------


def test_three_weeks_are_no_streak_four_are() -> None:
    assert weekly_streak_day([1, 1, 1, 0, 0, 0, 0, 0], AS_OF) is None
    # Weeks [3], [2], [1], [0]: the fourth is the week ending as_of.
    assert weekly_streak_day([1, 1, 1, 1, 0, 0, 0, 0], AS_OF) == AS_OF


def test_weekly_streak_gap_and_earliest_run() -> None:
    assert weekly_streak_day([3, 2, 0, 5, 5, 5, 0, 9], AS_OF) is None
    # Weeks [7]..[2] all active: the earliest run is [7], [6], [5], [4]; [4] ends as_of - 28.
    assert weekly_streak_day([0, 0, 1, 1, 1, 1, 1, 1], AS_OF) == ago(28)
    assert weekly_streak_day([], AS_OF) is None


def test_weekly_streak_milestone_from_windows() -> None:
    got = reached(quiet(weekly_active_users=[0, 4, 4, 4, 4, 0, 0, 0]), {})
    assert got == {"weekly_active_streak_4w": ago(7)}


# --- Onboarding -----------------------------------------------------------------------------


def onboarding(**changes: Any) -> dict[Milestone, date]:
    fields: dict[str, Any] = {
        "key_actions": (30, 1),
        "core_features_30": 3,
        "integrations": (10, 10),
        "integrations_total": 1,
    }
    fields.update(changes)
    return reached(quiet(**fields), {})


def test_onboarding_complete_needs_all_three() -> None:
    assert onboarding()["onboarding_complete"] == AS_OF
    assert "onboarding_complete" not in onboarding(key_actions=None)
    assert "onboarding_complete" not in onboarding(core_features_30=2)
    assert "onboarding_complete" not in onboarding(integrations_total=0)


def test_onboarding_counts_a_first_key_action_reached_before() -> None:
    w = quiet(key_actions=None, core_features_30=3, integrations_total=1)
    got = reached(w, {"first_key_action": ago(90)})
    assert got["onboarding_complete"] == AS_OF


# --- Once reached, stays reached ------------------------------------------------------------


def test_previous_milestones_are_kept_with_their_dates() -> None:
    previous: dict[Milestone, date] = {
        "ten_active_users": ago(200),
        "key_action_streak_5d": ago(150),
        "onboarding_complete": ago(180),
    }
    # Today the account is quiet: nothing of that shows in its windows any more.
    assert reached(quiet(), previous) == previous
    # And seeing them again later does not move their dates.
    busy = quiet(active_users_30=40, key_action_days=mask(0, 1, 2, 3, 4))
    assert reached(busy, previous) == previous


def test_an_earlier_date_found_later_replaces_a_later_one() -> None:
    # A backfill of late events shows the first key action earlier than first recorded.
    got = reached(quiet(key_actions=(70, 1)), {"first_key_action": ago(50)})
    assert got["first_key_action"] == ago(70)
    got = reached(quiet(key_actions=(30, 1)), {"first_key_action": ago(50)})
    assert got["first_key_action"] == ago(50)


def test_previous_is_not_modified() -> None:
    previous: dict[Milestone, date] = {"first_key_action": ago(50)}
    reached(quiet(key_actions=(70, 1), active_users_30=12), previous)
    assert previous == {"first_key_action": ago(50)}
