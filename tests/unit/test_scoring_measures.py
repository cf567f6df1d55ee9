"""Each health measure's raw value from an account's windows, and when it is missing."""

from __future__ import annotations

import pytest

from services.scoring.domain.health import score_health
from services.scoring.domain.measures import (
    MEASURE_NAMES,
    MEASURES,
    SILENT_START_DAYS,
    key_action_trend,
    raw_values,
    support_burden,
)
from services.scoring.domain.scorecards import DEFAULT_SCORECARDS
from tests.unit.scoring_factory import ago, facts, windows

USAGE = (
    "login_recency",
    "active_user_ratio",
    "core_feature_breadth",
    "key_action_trend",
    "integrations",
    "champion_present",
)


def test_every_measure_has_a_direction_unit_and_description() -> None:
    assert len(MEASURE_NAMES) == 10
    assert list(MEASURES) == list(MEASURE_NAMES)
    lower = {n for n, m in MEASURES.items() if m.direction == "lower"}
    assert lower == {"login_recency", "support_burden", "payment_failures"}
    assert all(m.unit and m.description for m in MEASURES.values())


def test_raw_values_of_a_steady_account() -> None:
    raws = raw_values(windows())
    assert list(raws) == list(MEASURE_NAMES)
    assert raws == {
        "login_recency": 1.0,
        "active_user_ratio": 0.8,
        "core_feature_breadth": 4.0,
        "key_action_trend": 0.0,
        "integrations": 2.0,
        "support_burden": 0.0,
        "nps": 9.0,
        "csat": 5.0,
        "payment_failures": 0.0,
        "champion_present": 1.0,
    }


def test_login_recency_counts_days_and_is_missing_when_never_logged_in() -> None:
    assert raw_values(windows(logins=(50, 0)))["login_recency"] == 0
    assert raw_values(windows(logins=(50, 17)))["login_recency"] == 17
    assert raw_values(windows(logins=None))["login_recency"] is None
    # Ingest leaving the kind out altogether means the same as never.
    w = windows()
    del w.seen["logins"]
    assert raw_values(w)["login_recency"] is None


def test_active_user_ratio_is_missing_without_seats() -> None:
    assert raw_values(windows(active_users_30=12))["active_user_ratio"] == 1.2
    no_seats = windows(account=facts(seats_purchased=0))
    assert raw_values(no_seats)["active_user_ratio"] is None


@pytest.mark.parametrize(
    ("last_30", "last_60", "expected"),
    [
        (40, 80, 0.0),  # same as the 30 days before
        (60, 100, 50.0),  # 60 vs 40
        (20, 60, -50.0),  # 20 vs 40
        (500, 510, 100.0),  # +4900%, capped
        (0, 40, -100.0),  # stopped entirely
        (5, 5, 100.0),  # nothing before, something now
        (0, 0, None),  # nothing either time: no trend
    ],
)
def test_key_action_trend(last_30: int, last_60: int, expected: float | None) -> None:
    assert key_action_trend(last_30, last_60) == expected


def test_support_burden_weighs_severity() -> None:
    assert support_burden({}) == 0
    assert support_burden({"low": 3, "medium": 2, "high": 1, "urgent": 1}) == 3 + 4 + 3 + 5


def test_surveys_are_missing_when_none_answered() -> None:
    raws = raw_values(windows(nps=None, csat=None))
    assert raws["nps"] is None
    assert raws["csat"] is None
    assert raw_values(windows(nps=0, csat=1))["nps"] == 0.0


def test_payment_failures_over_60_days() -> None:
    assert raw_values(windows(payment_failures_60=3))["payment_failures"] == 3


@pytest.mark.parametrize(
    ("last_active_days_ago", "expected"),
    [(0, 1.0), (29, 1.0), (30, 0.0), (-1, 0.0)],  # -1: a day after as_of is not "up to as_of"
)
def test_champion_present_in_the_last_30_days(last_active_days_ago: int, expected: float) -> None:
    w = windows(champion_last_active=ago(last_active_days_ago))
    assert raw_values(w)["champion_present"] == expected


def test_champion_absent_when_none_named_or_never_active() -> None:
    assert raw_values(windows(champion_last_active=None))["champion_present"] == 0
    unnamed = windows(account=facts(champion_user_id=None), champion_last_active=ago(1))
    assert raw_values(unnamed)["champion_present"] == 0


def test_usage_is_unknown_not_zero_for_a_new_account_that_never_sent_an_event() -> None:
    raws = raw_values(
        windows(
            account=facts(contract_start=ago(SILENT_START_DAYS - 1)),
            events=None,
            logins=None,
            key_actions=None,
            integrations=None,
            active_users_30=0,
            core_features_30=0,
            integrations_total=0,
            key_actions_30=0,
            key_actions_60=0,
            champion_last_active=None,
        )
    )
    assert all(raws[name] is None for name in USAGE)
    # What other systems tell us is still known.
    assert raws["support_burden"] == 0
    assert raws["payment_failures"] == 0
    assert raws["nps"] == 9


def test_an_old_contract_that_never_sent_an_event_counts_as_unused_not_unknown() -> None:
    # Sixty days into its contract and not one event: idle, which must score low, never
    # "no data" (that would spread the usage weights over support and billing and make it
    # look healthy).
    idle = windows(
        account=facts(contract_start=ago(60)),
        events=None,
        logins=None,
        key_actions=None,
        integrations=None,
        active_users_30=0,
        core_features_30=0,
        integrations_total=0,
        key_actions_30=0,
        key_actions_60=0,
        champion_last_active=None,
    )
    raws = raw_values(idle)
    assert raws["login_recency"] == 60
    assert raws["active_user_ratio"] == 0
    assert raws["core_feature_breadth"] == 0
    assert raws["integrations"] == 0
    assert raws["champion_present"] == 0
    assert raws["key_action_trend"] is None  # no key actions in either period: no trend
    health = score_health(raws, DEFAULT_SCORECARDS["smb"])
    assert health.colour == "red"
    brand_new = windows(
        account=facts(contract_start=ago(SILENT_START_DAYS - 1)),
        events=None, logins=None, key_actions=None, integrations=None,
    )  # fmt: skip
    assert raw_values(brand_new)["login_recency"] is None


def test_usage_counts_zero_once_the_account_has_sent_events() -> None:
    raws = raw_values(
        windows(events=(100, 40), core_features_30=0, integrations_total=0, active_users_30=0)
    )
    assert raws["core_feature_breadth"] == 0
    assert raws["integrations"] == 0
    assert raws["active_user_ratio"] == 0


def test_unknown_account_has_no_seat_or_champion_measures() -> None:
    raws = raw_values(windows(no_account=True))
    assert raws["active_user_ratio"] is None
    assert raws["champion_present"] is None
    assert raws["login_recency"] == 1
