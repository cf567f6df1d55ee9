"""The decision rules, without a database: eligibility, holdout, limits, budgets, order."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from services.offers.domain.decisions import (
    AccountView,
    PastOffer,
    budget_scopes,
    decide,
    in_holdout,
)
from services.offers.domain.programs import ProgramDefinition

NOW = datetime(2031, 3, 14, 9, 30, tzinfo=UTC)  # any instant: the rules take `now`
# Which of acct-0..acct-39 are in renewal_credit's 10% holdout: pinned, so a change to the
# hash (which would move accounts between groups mid-experiment) fails here.
HELD_OUT_OF_FORTY = [2, 18, 30, 31, 32, 36]


def definition(**changes: Any) -> ProgramDefinition:
    """A renewal-credit-like program, with fields replaced."""
    base: dict[str, Any] = {
        "name": "Renewal credit",
        "owner": "cs-lead",
        "trigger": "account.days_to_renewal <= 60",
        "reward": {
            "kind": "credit",
            "per_tier": {
                "silver": {"percent_of_arr": 1},
                "gold": {"percent_of_arr": 3},
                "platinum": {"percent_of_arr": 5},
            },
        },
        "limits": {"max_offers_per_account": 1, "period_days": 365, "cooldown_days": 30},
        "holdout_percent": 0,
    }
    base.update(changes)
    return ProgramDefinition.model_validate(base)


def account(**changes: Any) -> AccountView:
    values: dict[str, Any] = {
        "account_id": "acme",
        "status": "active",
        "currency": "USD",
        "segment": "steady",
        "tier": "gold",
        "motion_segment": "mid_market",
        "billing_period": "annual",
        "arr_minor": 6_000_000,
        "mrr_minor": 500_000,
    }
    values.update(changes)
    return AccountView(**values)


def matched(value: bool = True) -> Callable[[], tuple[bool, str]]:
    return lambda: (value, "trigger matched" if value else "account.days_to_renewal is 90")


def offer(days_ago: int, program: str = "renewal", value: int = 1000, **kw: Any) -> PastOffer:
    return PastOffer(
        program_id=program,
        created_at=NOW - timedelta(days=days_ago),
        value_minor=value,
        released_minor=kw.get("released", 0),
        state=kw.get("state", "issued"),
    )


def test_a_gold_account_is_offered_three_percent_of_its_arr() -> None:
    verdict = decide("renewal", definition(), account(), matched(), [], NOW)
    assert (verdict.outcome, verdict.value_minor) == ("offered", 180_000)


@pytest.mark.parametrize(
    ("rules", "changes", "named"),
    [
        ({"statuses": ["active"]}, {"status": "cancelled"}, "status cancelled"),
        ({"segments": ["at_risk"]}, {"segment": "steady"}, "segment steady"),
        ({"tiers": ["platinum"]}, {"tier": "gold"}, "tier gold"),
        ({"motion_segments": ["smb"]}, {"motion_segment": "mid_market"}, "motion segment"),
        ({"billing_periods": ["monthly"]}, {"billing_period": "annual"}, "billing period"),
    ],
)
def test_each_eligibility_rule_is_named_when_it_fails(
    rules: dict[str, Any], changes: dict[str, Any], named: str
) -> None:
    verdict = decide(
        "renewal", definition(eligibility=rules), account(**changes), matched(), [], NOW
    )
    assert verdict.outcome == "not_eligible"
    assert named in verdict.reason


def test_an_account_in_another_currency_is_not_eligible() -> None:
    verdict = decide("renewal", definition(), account(currency="EUR"), matched(), [], NOW)
    assert verdict.outcome == "not_eligible"
    assert "EUR" in verdict.reason


def test_outside_the_window_nothing_is_offered() -> None:
    later = definition(window={"starts_at": (NOW + timedelta(days=1)).isoformat()})
    ended = definition(window={"ends_at": NOW.isoformat()})
    assert "starts" in decide("renewal", later, account(), matched(), [], NOW).reason
    assert "ended" in decide("renewal", ended, account(), matched(), [], NOW).reason


def test_a_tier_the_reward_has_nothing_for_is_not_eligible() -> None:
    gold_only = definition(reward={"kind": "credit", "per_tier": {"gold": {"amount_minor": 5_000}}})
    verdict = decide("renewal", gold_only, account(tier="silver"), matched(), [], NOW)
    assert verdict.outcome == "not_eligible"
    assert "silver" in verdict.reason


def test_the_trigger_is_not_evaluated_for_an_ineligible_account() -> None:
    def never() -> tuple[bool, str]:
        raise AssertionError("evaluated")

    verdict = decide("renewal", definition(), account(status="cancelled"), never, [], NOW)
    assert verdict.outcome == "not_eligible"


def test_a_false_trigger_says_why() -> None:
    verdict = decide("renewal", definition(), account(), matched(False), [], NOW)
    assert verdict == verdict.__class__("trigger_false", "account.days_to_renewal is 90")


def test_cooldown_names_when_it_ends() -> None:
    rules = definition(limits={"cooldown_days": 30, "max_offers_per_account": 5})
    verdict = decide("renewal", rules, account(), matched(), [offer(days_ago=10)], NOW)
    assert verdict.outcome == "cooldown"
    assert (NOW + timedelta(days=20)).isoformat() in verdict.reason
    after = decide("renewal", rules, account(), matched(), [offer(days_ago=31)], NOW)
    assert after.outcome == "offered"


def test_the_per_account_limit_counts_offers_in_the_period_but_not_rejected_ones() -> None:
    rules = definition(limits={"max_offers_per_account": 2, "period_days": 90, "cooldown_days": 0})
    two = [offer(days_ago=10), offer(days_ago=50)]
    assert decide("renewal", rules, account(), matched(), two, NOW).outcome == "account_limit"
    one_old = [offer(days_ago=10), offer(days_ago=100)]
    assert decide("renewal", rules, account(), matched(), one_old, NOW).outcome == "offered"
    rejected = [offer(days_ago=10), offer(days_ago=50, state="rejected")]
    assert decide("renewal", rules, account(), matched(), rejected, NOW).outcome == "offered"


def test_other_programs_offers_do_not_count_toward_this_ones_limits() -> None:
    verdict = decide(
        "renewal", definition(), account(), matched(), [offer(1, program="seats")], NOW
    )
    assert verdict.outcome == "offered"


def test_the_arr_cap_counts_what_every_program_gave_less_what_was_released() -> None:
    rules = definition(
        limits={"arr_cap_percent": 5, "cooldown_days": 0, "max_offers_per_account": 9}
    )
    # 5% of 6,000,000 = 300,000; this offer is 180,000.
    given = [offer(5, program="seats", value=150_000)]
    assert decide("renewal", rules, account(), matched(), given, NOW).outcome == "arr_cap"
    released = [offer(5, program="seats", value=150_000, released=100_000)]
    assert decide("renewal", rules, account(), matched(), released, NOW).outcome == "offered"
    rejected = [offer(5, program="seats", value=150_000, state="rejected")]
    assert decide("renewal", rules, account(), matched(), rejected, NOW).outcome == "offered"
    a_year_ago = [offer(400, program="seats", value=150_000)]
    assert decide("renewal", rules, account(), matched(), a_year_ago, NOW).outcome == "offered"


def test_held_out_accounts_are_decided_after_the_trigger_and_before_the_limits() -> None:
    everyone = definition(holdout_percent=50)
    held = next(f"acct-{i}" for i in range(100) if in_holdout("renewal", f"acct-{i}", Decimal(50)))
    cooling = [offer(days_ago=1)]
    verdict = decide("renewal", everyone, account(account_id=held), matched(), cooling, NOW)
    assert verdict.outcome == "holdout"
    untriggered = decide(
        "renewal", everyone, account(account_id=held), matched(False), cooling, NOW
    )
    assert untriggered.outcome == "trigger_false"


def test_holdout_share_is_within_two_points_of_its_target_over_ten_thousand_accounts() -> None:
    for percent in (Decimal(5), Decimal(10), Decimal("12.5"), Decimal(50)):
        held = sum(in_holdout("renewal", f"account-{i}", percent) for i in range(10_000))
        assert abs(held / 100 - float(percent)) <= 2, percent


def test_holdout_is_stable_and_independent_across_programs() -> None:
    # Fixed answers: a hash that changed between machines or releases would move accounts
    # between groups mid-experiment.
    picks = [in_holdout("renewal_credit", f"acct-{i}", Decimal(10)) for i in range(40)]
    assert picks == [in_holdout("renewal_credit", f"acct-{i}", Decimal(10)) for i in range(40)]
    assert [i for i, p in enumerate(picks) if p] == HELD_OUT_OF_FORTY
    other = [in_holdout("seat_expansion", f"acct-{i}", Decimal(10)) for i in range(40)]
    assert other != picks
    assert not any(in_holdout("x", f"acct-{i}", Decimal(0)) for i in range(1000))


def test_budget_scopes_are_the_program_then_the_tier() -> None:
    rules = definition(limits={"budget_minor": 1_000_000, "tier_budgets_minor": {"gold": 500}})
    assert budget_scopes(rules, "gold") == (("program", 1_000_000), ("tier:gold", 500))
    assert budget_scopes(rules, "silver") == (("program", 1_000_000),)
    assert budget_scopes(definition(), "gold") == ()


def test_a_credit_worth_nothing_or_more_than_the_ledger_holds_is_not_offered() -> None:
    tiny = decide("renewal", definition(), account(arr_minor=16), matched(), [], NOW)  # 0.48
    assert (tiny.outcome, tiny.reason) == (
        "not_eligible",
        "the reward would be worth nothing for this account",
    )
    huge = decide("renewal", definition(), account(arr_minor=10**18), matched(), [], NOW)
    assert huge.outcome == "not_eligible"
    assert "more than 1000000000000000" in huge.reason


def test_a_perk_that_costs_nothing_is_still_offered() -> None:
    free = definition(reward={"kind": "perk", "perks": [{"perk": "beta_access"}]})
    assert decide("beta", free, account(), matched(), [], NOW).outcome == "offered"
