"""A program's results in pure code: the interval's known answers and edges, the grouping,
outcome, rate and retention rules on hand-made data. Every time derives from a base of its
own, never from today."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.offers.domain.results import (
    FirstDecision,
    assign_groups,
    compare,
    first_outcomes,
    newcombe_difference,
    retention,
    wilson,
)
from shared.contracts import MrrAt, Outcome

BASE = datetime(2031, 3, 1, 9, 30, tzinfo=UTC)


def test_newcombe_worked_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873-890, table II, example (a), method 10.
    difference, interval = newcombe_difference(56, 70, 48, 80)
    assert difference == pytest.approx(0.2)
    assert (round(interval.lower, 4), round(interval.upper, 4)) == (0.0524, 0.3339)


def test_hand_computation_of_9_of_10_against_3_of_10() -> None:
    # Worked by hand in newcombe_difference's docstring, with z = 1.96.
    first, second = wilson(9, 10, 1.96), wilson(3, 10, 1.96)
    assert (round(first.lower, 4), round(first.upper, 4)) == (0.5958, 0.9821)
    assert (round(second.lower, 4), round(second.upper, 4)) == (0.1078, 0.6032)
    difference, interval = newcombe_difference(9, 10, 3, 10, 1.96)
    assert difference == pytest.approx(0.6)
    assert (round(interval.lower, 4), round(interval.upper, 4)) == (0.1705, 0.8090)


def test_wilson_at_the_ends_stays_inside_0_and_1() -> None:
    none = wilson(0, 10)
    assert none.lower == 0.0
    assert none.upper == pytest.approx(1.959963984540054**2 / (10 + 1.959963984540054**2))
    every = wilson(10, 10)
    assert every.upper == 1.0
    assert every.lower == pytest.approx(10 / (10 + 1.959963984540054**2))
    with pytest.raises(ValueError):
        wilson(0, 0)
    with pytest.raises(ValueError):
        wilson(11, 10)


def test_newcombe_at_the_ends() -> None:
    difference, interval = newcombe_difference(5, 5, 0, 5)
    assert difference == 1.0
    assert interval.upper == 1.0  # where the Wald interval would be the point [1, 1]
    assert 0.3 < interval.lower < 0.4
    difference, interval = newcombe_difference(0, 10, 0, 20)
    assert difference == 0.0
    assert interval.lower < 0 < interval.upper
    difference, interval = newcombe_difference(20, 20, 10, 10)
    assert difference == 0.0
    assert interval.lower < 0 < interval.upper


def decided(account_id: str, outcome: str, hours: float) -> FirstDecision:
    return FirstDecision(account_id, outcome, BASE + timedelta(hours=hours))  # type: ignore[arg-type]


def test_each_account_in_the_group_of_its_first_decision() -> None:
    members = assign_groups(
        [
            decided("a", "offered", 0),
            decided("b", "holdout", 1),
            decided("c", "holdout", 2),
            decided("c", "offered", 5),  # held out first: stays held out, said so
            decided("d", "offered", 3),
            decided("d", "holdout", 3),  # at the same instant: the offer was made
        ]
    )
    assert {a: (m.group, m.in_both) for a, m in members.items()} == {
        "a": ("treated", False),
        "b": ("holdout", False),
        "c": ("holdout", True),
        "d": ("treated", True),
    }
    assert members["c"].decided_at == BASE + timedelta(hours=2)


def outcome(account_id: str, renewal: date, kind: str, final: bool = True) -> Outcome:
    values: dict[str, Any] = {
        "account_id": account_id,
        "renewal_date": renewal,
        "outcome": kind,
        "mrr_before_minor": 100,
        "mrr_after_minor": 0 if kind == "churned" else 100,
        "currency": "USD",
        "currency_before": "USD",
        "decided_at": datetime.combine(renewal, datetime.min.time(), tzinfo=UTC),
        "final": final,
    }
    return Outcome.model_validate(values)


def test_the_first_final_renewal_in_the_window_after_the_decision() -> None:
    members = assign_groups([decided("a", "offered", 0), decided("b", "holdout", 0)])
    day = BASE.date()
    start, end = BASE - timedelta(days=10), BASE + timedelta(days=100)
    found, pending = first_outcomes(
        members,
        [
            outcome("a", day - timedelta(days=5), "churned"),  # before its decision
            outcome("a", day, "churned"),  # 00:00 of the decision's day: before it too
            outcome("a", day + timedelta(days=40), "expanded"),  # the one
            outcome("a", day + timedelta(days=60), "churned"),  # a later renewal
            outcome("b", day + timedelta(days=30), "renewed", final=False),  # in its grace
            outcome("stranger", day + timedelta(days=30), "renewed"),
        ],
        start,
        end,
    )
    assert {a: o.outcome for a, o in found.items()} == {"a": "expanded"}
    assert pending == {"b"}
    # A renewal at the window's end (00:00 UTC of its date) is outside it.
    renewal = day + timedelta(days=40)
    at = datetime.combine(renewal, datetime.min.time(), tzinfo=UTC)
    found, _ = first_outcomes(members, [outcome("a", renewal, "expanded")], start, at)
    assert found == {}


def test_rates_and_difference_by_group_with_warnings_for_small_groups() -> None:
    decisions = [decided(f"t{i}", "offered", i) for i in range(10)]
    decisions += [decided(f"h{i}", "holdout", i) for i in range(12)]
    members = assign_groups(decisions)
    kinds = ["renewed"] * 5 + ["expanded"] * 2 + ["contracted"] * 2 + ["churned"]
    renewal = BASE.date() + timedelta(days=30)
    outcomes = {f"t{i}": outcome(f"t{i}", renewal, k) for i, k in enumerate(kinds)}
    outcomes |= {
        f"h{i}": outcome(f"h{i}", renewal, k)
        for i, k in enumerate(["renewed"] * 3 + ["churned"] * 7)
    }
    comparison = compare(members, outcomes, pending={"h10"})
    treated, holdout = comparison.groups["treated"], comparison.groups["holdout"]
    assert treated.outcomes == {"renewed": 5, "expanded": 2, "contracted": 2, "churned": 1}
    assert (treated.accounts, treated.final_outcomes, treated.pending, treated.no_outcome) == (
        10,
        10,
        0,
        0,
    )
    assert (holdout.accounts, holdout.final_outcomes, holdout.pending, holdout.no_outcome) == (
        12,
        10,
        1,
        1,
    )
    assert treated.renewal_rate == pytest.approx(0.9)  # contracted still renewed
    assert holdout.renewal_rate == pytest.approx(0.3)
    difference, interval = newcombe_difference(9, 10, 3, 10)
    assert comparison.difference == pytest.approx(difference)
    assert comparison.interval == interval
    assert treated.rate_interval == wilson(9, 10)
    assert len(comparison.warnings) == 2
    assert "treated group has 10 final outcomes (9 renewing, 1 churned)" in comparison.warnings[0]
    assert not treated.enough_data


def test_no_interval_without_outcomes_on_both_sides_and_no_warning_for_large_groups() -> None:
    decisions = [decided(f"t{i}", "offered", 0) for i in range(40)]
    decisions += [decided(f"h{i}", "holdout", 0) for i in range(40)]
    members = assign_groups(decisions)
    renewal = BASE.date() + timedelta(days=3)
    outcomes = {
        f"t{i}": outcome(f"t{i}", renewal, "renewed" if i < 30 else "churned") for i in range(40)
    }
    alone = compare(members, outcomes, pending=set())
    assert alone.difference is None
    assert alone.interval is None
    assert alone.warnings == [
        "The holdout group has no final renewal outcome in the window: no rate, no interval."
    ]
    outcomes |= {
        f"h{i}": outcome(f"h{i}", renewal, "renewed" if i < 20 else "churned") for i in range(40)
    }
    both = compare(members, outcomes, pending=set())
    assert both.warnings == []
    assert all(g.enough_data for g in both.groups.values())
    assert both.difference == pytest.approx(0.25)


def facts(mrr: int, currency: str = "USD", status: str = "active") -> MrrAt:
    return MrrAt.model_validate(
        {"at": BASE, "mrr_minor": mrr, "currency": currency, "status": status}
    )


def test_net_revenue_retention_of_accounts_present_at_the_start() -> None:
    result = retention(
        ["grew", "churned", "late", "cancelled", "euro", "switched", "unknown"],
        {
            "grew": [facts(1_000), facts(1_500)],
            "churned": [facts(2_000), facts(2_000, status="cancelled")],
            "late": [None, facts(9_000)],  # not present at the start
            "cancelled": [facts(500, status="cancelled"), facts(500)],  # gone at the start
            "euro": [facts(4_000, "EUR"), facts(4_000, "EUR")],
            "switched": [facts(1_000), facts(900, "EUR")],  # changed currency
        },
        "USD",
    )
    assert (result.accounts, result.other_currency) == (2, 2)
    assert result.arr_start_minor == 12 * 3_000
    assert result.arr_end_minor == 12 * 1_500
    assert result.nrr == pytest.approx(0.5)
    assert retention(["late"], {"late": [None, facts(1)]}, "USD").nrr is None
