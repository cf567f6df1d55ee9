"""Building a snapshot from windows, and what changed between two snapshots."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from services.scoring.domain.health import score_health
from services.scoring.domain.measures import raw_values
from services.scoring.domain.rfm import RfmBreakpoints, breakpoints
from services.scoring.domain.scorecards import DEFAULT_SCORECARDS
from services.scoring.domain.snapshot import (
    build_snapshot,
    changes,
    health_change,
    in_rfm_population,
    rfm_inputs,
)
from shared.contracts import AccountWindows, ColourOverride, Milestone, Snapshot
from tests.unit.scoring_factory import AS_OF, NOW, ago, facts, windows

# Five accounts' (recency days, key actions in 30 days, MRR): cuts at each value but the top.
POPULATION = [(0, 100, 90_000), (2, 60, 50_000), (5, 40, 30_000), (10, 20, 10_000), (20, 5, 5_000)]
BREAKS = breakpoints(POPULATION)
SMB = DEFAULT_SCORECARDS["smb"]


def snap(w: AccountWindows | None = None, **kwargs: Any) -> Snapshot:
    args: dict[str, Any] = {
        "previous_milestones": {},
        "history": {},
        "override": None,
        "now": NOW,
    }
    args.update(kwargs)
    out = build_snapshot(w if w is not None else windows(), SMB, BREAKS, **args)
    assert out is not None
    return out


def test_every_field_of_a_snapshot() -> None:
    w = windows(
        account=facts(mrr_minor=41_667, seats_purchased=10, cancel_intent=True),
        active_users_30=9,
        key_actions=(290, 3),
        key_actions_30=40,
        nps=7,
        integrations=(280, 100),
    )
    s = snap(w)
    exact = score_health(raw_values(w), SMB).score
    assert exact is not None
    assert s.account_id == "acct-1"
    assert s.as_of == AS_OF
    assert s.computed_at == NOW
    assert (s.scorecard_motion, s.scorecard_version) == ("smb", 1)
    assert (s.name, s.motion_segment, s.plan, s.status) == ("Acme", "smb", "pro", "active")
    assert (s.billing_period, s.currency) == ("annual", "EUR")
    assert (s.mrr_minor, s.arr_minor) == (41_667, 500_004)
    assert (s.seats_purchased, s.active_seats, s.seat_utilization) == (10, 9, 0.9)
    assert s.health_score == round(exact, 1)
    assert s.computed_colour == s.colour == "green"
    assert s.override is None
    assert (s.health_change_7d, s.health_change_30d) == (None, None)
    assert [m.measure for m in s.measures][:2] == ["login_recency", "active_user_ratio"]
    assert s.rfm.model_dump() == {
        "recency_days": 3,
        "frequency": 40,
        "monetary_minor": 41_667,
        "r": 3,  # 3 days: above the 0- and 2-day cuts, within the 5-day one
        "f": 3,  # 40: equal to the 40 cut, placed with the smaller values
        "m": 4,
    }
    assert (s.segment, s.segment_rule) == ("at_risk", "cancel intent")
    assert s.tier == "silver"
    assert (s.days_since_contract_start, s.days_to_renewal, s.renewal_window) == (200, 165, None)
    assert (s.paid_months, s.cancel_intent, s.nps) == (6, True, 7)
    assert s.milestones == {
        "first_key_action": ago(290),
        "first_integration": ago(280),
        "onboarding_complete": AS_OF,
        # Active every one of the 8 weeks: the earliest run ends with week [4], as_of - 28.
        "weekly_active_streak_4w": ago(28),
    }


def test_unknown_account_has_no_snapshot() -> None:
    w = windows(no_account=True)
    assert (
        build_snapshot(w, SMB, BREAKS, previous_milestones={}, history={}, override=None, now=NOW)
        is None
    )


def test_rounding_only_for_display() -> None:
    # 1/3 of seats active: a sub-score and contributions with long decimals.
    s = snap(windows(active_users_30=3, key_actions_30=41))
    for m in s.measures:
        for x in (m.sub_score, m.effective_weight, m.contribution, m.lost):
            assert x is None or x == round(x, 2)
    assert s.health_score is not None
    assert s.health_score == round(s.health_score, 1)
    assert all(d.lost == round(d.lost, 2) for d in s.drivers)


def test_no_seats_means_no_utilization() -> None:
    s = snap(windows(account=facts(seats_purchased=0), active_users_30=4))
    assert s.seat_utilization is None
    assert s.active_seats == 4


def test_renewal_window_in_the_snapshot() -> None:
    s = snap(windows(account=facts(renewal_date=ago(-75))))
    assert (s.days_to_renewal, s.renewal_window) == (75, 90)


def test_health_change_against_the_latest_score_on_or_before_the_day() -> None:
    history = {ago(40): 50.0, ago(31): 55.0, ago(8): 60.0, ago(6): 99.0, ago(1): 99.0}
    # 7 days back is ago(7): the latest on or before it is ago(8), 60.0.
    assert health_change(72.04, history, AS_OF, 7) == 12.0
    # 30 days back: ago(31), 55.0.
    assert health_change(72.04, history, AS_OF, 30) == 17.0
    assert health_change(72.04, {ago(7): 70.0}, AS_OF, 7) == 2.0  # exactly 7 days ago counts
    assert health_change(72.04, {ago(6): 70.0}, AS_OF, 7) is None
    assert health_change(None, history, AS_OF, 7) is None
    assert health_change(70.0, {ago(30): 70.0}, AS_OF, 30) == 0.0


def test_snapshot_health_changes() -> None:
    s = snap(history={ago(7): 10.0, ago(30): 20.0})
    assert s.health_score is not None
    assert s.health_change_7d == round(s.health_score - 10.0, 1)
    assert s.health_change_30d == round(s.health_score - 20.0, 1)


def override(colour: str, expires_in: timedelta) -> ColourOverride:
    return ColourOverride(
        colour=colour,
        reason="exec sponsor left",
        expires_at=NOW + expires_in,
        created_by="csm@example.com",
        created_at=NOW - timedelta(days=2),
    )


def test_override_applies_only_while_in_force() -> None:
    red = override("red", timedelta(days=3))
    s = snap(override=red)
    assert (s.computed_colour, s.colour, s.override) == ("green", "red", red)
    expired = snap(override=override("red", timedelta(0)))  # expires at this very moment
    assert (expired.colour, expired.override) == ("green", None)


def test_milestones_carry_over_from_the_previous_snapshot() -> None:
    previous: dict[Milestone, date] = {"ten_active_users": ago(100)}
    s = snap(previous_milestones=previous)
    assert s.milestones["ten_active_users"] == ago(100)


def test_rfm_inputs() -> None:
    assert rfm_inputs(windows(key_actions=(100, 4), key_actions_30=12)) == (4, 12, 50_000)
    assert rfm_inputs(windows(key_actions=None, key_actions_30=0)) == (None, 0, 50_000)
    assert rfm_inputs(windows(no_account=True))[2] == 0


def test_an_empty_population_places_everyone_in_the_middle() -> None:
    s = build_snapshot(
        windows(),
        SMB,
        RfmBreakpoints(None, None, None),
        previous_milestones={},
        history={},
        override=None,
        now=NOW,
    )
    assert s is not None
    assert (s.rfm.r, s.rfm.f, s.rfm.m) == (3, 3, 3)


# --- changes -------------------------------------------------------------------------------


def test_first_snapshot_is_created() -> None:
    assert changes(None, snap()) == ["created"]


def test_identical_recompute_changes_nothing() -> None:
    first = snap()
    again = snap(now=NOW + timedelta(hours=1))
    assert changes(first, again) == []
    assert changes(first, first.model_copy(update={"health_score": 12.3})) == []


@pytest.mark.parametrize(
    ("update", "expected"),
    [
        ({"segment": "power_user"}, ["segment"]),
        ({"tier": "gold"}, ["tier"]),
        ({"colour": "red"}, ["colour"]),
        ({"milestones": {"ten_active_users": AS_OF}}, ["milestone"]),
        ({"renewal_window": 120}, ["renewal_window"]),
        ({"seat_utilization": 0.95}, ["seat_utilization_90"]),
        ({"cancel_intent": True}, ["cancel_intent"]),
        ({"paid_months": 7}, ["paid_months"]),
        ({"segment": "steady", "tier": "platinum", "paid_months": 9}, ["tier", "paid_months"]),
    ],
)
def test_each_kind_of_change(update: dict[str, Any], expected: list[str]) -> None:
    before = snap().model_copy(
        update={"segment": "steady", "seat_utilization": 0.8, "renewal_window": None}
    )
    after = before.model_copy(update=update)
    if "milestones" in update:
        after = before.model_copy(update={"milestones": before.milestones | update["milestones"]})
    assert changes(before, after) == expected


def test_renewal_window_counts_on_entering_only() -> None:
    before = snap().model_copy(update={"renewal_window": 120})
    assert changes(before, before.model_copy(update={"renewal_window": 90})) == ["renewal_window"]
    assert changes(before, before.model_copy(update={"renewal_window": None})) == []
    assert changes(before, before) == []


@pytest.mark.parametrize(
    ("old", "new", "crossed"),
    [
        (0.89, 0.9, True),
        (0.9, 0.89, True),
        (0.9, 1.2, False),
        (0.5, 0.89, False),
        (None, 0.95, True),
        (0.95, None, True),
        (None, None, False),
    ],
)
def test_seat_utilization_crossing_90(old: float | None, new: float | None, crossed: bool) -> None:
    before = snap().model_copy(update={"seat_utilization": old})
    after = before.model_copy(update={"seat_utilization": new})
    assert changes(before, after) == (["seat_utilization_90"] if crossed else [])


def test_a_milestone_already_reached_is_no_change() -> None:
    before = snap()
    moved = {k: v - timedelta(days=1) for k, v in before.milestones.items()}
    assert changes(before, before.model_copy(update={"milestones": moved})) == []


def test_a_naive_override_expiry_is_read_as_utc() -> None:
    naive = override("yellow", timedelta(hours=1)).model_copy(
        update={"expires_at": (NOW + timedelta(hours=1)).replace(tzinfo=None)}
    )
    assert snap(override=naive).colour == "yellow"
    assert snap(override=naive, now=NOW + timedelta(hours=2)).colour == "green"


def test_rfm_population_is_active_accounts() -> None:
    assert in_rfm_population(windows())
    assert not in_rfm_population(windows(account=facts(status="trial")))
    assert not in_rfm_population(windows(no_account=True))
