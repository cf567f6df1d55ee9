"""Program definitions: every validation rule, the approval thresholds, percent rounding, the
status and approval rules of programs, and the shipped defaults."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from services.offers.domain.defaults import DEFAULT_PROGRAMS, SYSTEM_PRINCIPAL
from services.offers.domain.program_changes import approval_refusal, status_refusal
from services.offers.domain.programs import (
    ApprovalPolicy,
    CreditAmount,
    CreditReward,
    DiscountReward,
    PerkReward,
    ProgramDefinition,
    percent_of,
    reward_value,
)
from services.offers.domain.triggers import account_context, compile_trigger, evaluate
from tests.offers_support import snapshot


def body(**changes: Any) -> dict[str, Any]:
    """A valid definition as a client sends it, with some fields changed."""
    base: dict[str, Any] = {
        "name": "Renewal",
        "owner": "ada",
        "trigger": "account.days_to_renewal <= 60",
        "reward": {"kind": "credit", "amount": {"amount_minor": 5000}},
    }
    return {**base, **changes}


def problem_locations(raw: dict[str, Any]) -> list[tuple[str | int, ...]]:
    with pytest.raises(ValidationError) as caught:
        ProgramDefinition.model_validate(raw)
    return [e["loc"] for e in caught.value.errors()]


def test_a_minimal_definition_takes_the_defaults_and_round_trips_as_json() -> None:
    definition = ProgramDefinition.model_validate(body())
    assert definition.currency == "USD"
    assert definition.holdout_percent == Decimal(10)
    assert definition.eligibility.statuses == ["active"]
    assert definition.limits.cooldown_days == 30
    assert definition.approval.auto_approve_up_to_minor == 0
    stored = definition.model_dump(mode="json")
    assert ProgramDefinition.model_validate(stored) == definition


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"colour": "red"}, ("colour",)),
        ({"name": ""}, ("name",)),
        ({"name": "x" * 201}, ("name",)),
        ({"owner": ""}, ("owner",)),
        ({"trigger": ""}, ("trigger",)),
        ({"trigger": "x" * 4001}, ("trigger",)),
        ({"description": "nul \x00"}, ("description",)),
        ({"currency": "usd"}, ("currency",)),
        ({"currency": "DOLLARS"}, ("currency",)),
        ({"holdout_percent": 51}, ("holdout_percent",)),
        ({"holdout_percent": -1}, ("holdout_percent",)),
        ({"holdout_percent": "1.00001"}, ("holdout_percent",)),
        ({"holdout_percent": "NaN"}, ("holdout_percent",)),
        ({"eligibility": {"segments": ["galactic"]}}, ("eligibility", "segments", 0)),
        ({"eligibility": {"tiers": ["bronze"]}}, ("eligibility", "tiers", 0)),
        ({"eligibility": {"statuses": ["gone"]}}, ("eligibility", "statuses", 0)),
        ({"reward": {"kind": "cash"}}, ("reward",)),
        ({"reward": {"kind": "credit"}}, ("reward", "credit")),
        (
            {"reward": {"kind": "credit", "amount": {}}},
            ("reward", "credit", "amount"),
        ),
        (
            {"reward": {"kind": "credit", "amount": {"amount_minor": 1, "percent_of_arr": 1}}},
            ("reward", "credit", "amount"),
        ),
        (
            {"reward": {"kind": "credit", "amount": {"amount_minor": -1}}},
            ("reward", "credit", "amount", "amount_minor"),
        ),
        (
            {"reward": {"kind": "credit", "amount": {"amount_minor": 10**15 + 1}}},
            ("reward", "credit", "amount", "amount_minor"),
        ),
        (
            {"reward": {"kind": "credit", "amount": {"percent_of_arr": 101}}},
            ("reward", "credit", "amount", "percent_of_arr"),
        ),
        (
            {"reward": {"kind": "credit", "per_tier": {"bronze": {"amount_minor": 1}}}},
            ("reward", "credit", "per_tier", "bronze", "[key]"),
        ),
        (
            {
                "reward": {
                    "kind": "credit",
                    "amount": {"amount_minor": 1},
                    "expires_after": 0,
                }
            },
            ("reward", "credit", "expires_after"),
        ),
        (
            {"reward": {"kind": "discount", "percent": 10, "months": 0}},
            ("reward", "discount", "months"),
        ),
        (
            {"reward": {"kind": "discount", "percent": 10, "months": 37}},
            ("reward", "discount", "months"),
        ),
        ({"reward": {"kind": "perk", "perks": []}}, ("reward", "perk", "perks")),
        (
            {"reward": {"kind": "perk", "perks": [{"perk": "yacht"}]}},
            ("reward", "perk", "perks", 0, "perk"),
        ),
        (
            {"reward": {"kind": "perk", "perks": [{"perk": "feature_pass", "days": 0}]}},
            ("reward", "perk", "perks", 0, "days"),
        ),
        (
            {"reward": {"kind": "perk", "perks": [{"perk": "workshop"}] * 11}},
            ("reward", "perk", "perks"),
        ),
        ({"limits": {"max_offers_per_account": 0}}, ("limits", "max_offers_per_account")),
        ({"limits": {"period_days": 3651}}, ("limits", "period_days")),
        ({"limits": {"cooldown_days": -1}}, ("limits", "cooldown_days")),
        ({"limits": {"budget_minor": -5}}, ("limits", "budget_minor")),
        ({"limits": {"arr_cap_percent": 150}}, ("limits", "arr_cap_percent")),
        (
            {"approval": {"auto_approve_up_to_minor": 500, "finance_above_minor": 100}},
            ("approval",),
        ),
        (
            {"window": {"starts_at": "2027-01-02T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z"}},
            ("window",),
        ),
        (
            {"window": {"starts_at": "2027-01-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z"}},
            ("window",),
        ),
        ({"window": {"starts_at": "2027-01-01T00:00:00"}}, ("window", "starts_at")),
    ],
)
def test_each_rule_refuses_by_field(changes: dict[str, Any], where: tuple[str | int, ...]) -> None:
    assert where in problem_locations(body(**changes))


@pytest.mark.parametrize("missing", ["name", "owner", "trigger", "reward"])
def test_required_fields(missing: str) -> None:
    raw = body()
    del raw[missing]
    assert (missing,) in problem_locations(raw)


def test_percent_of_rounds_half_to_even_to_a_whole_minor_unit() -> None:
    assert percent_of(50, Decimal(1)) == 0  # 0.5
    assert percent_of(150, Decimal(1)) == 2  # 1.5
    assert percent_of(250, Decimal(1)) == 2  # 2.5
    assert percent_of(12_345, Decimal(3)) == 370  # 370.35
    assert percent_of(100, Decimal("2.5")) == 2  # 2.5
    assert percent_of(100, Decimal("3.5")) == 4  # 3.5
    assert percent_of(1_000_000, Decimal("0.0001")) == 1
    assert percent_of(0, Decimal(100)) == 0
    assert percent_of(10**15, Decimal(100)) == 10**15


def test_approval_thresholds_are_inclusive_up_to_auto_and_exclusive_above_finance() -> None:
    policy = ApprovalPolicy(auto_approve_up_to_minor=10_000, finance_above_minor=100_000)
    assert policy.approvals_needed(0) == (0, False)
    assert policy.approvals_needed(10_000) == (0, False)
    assert policy.approvals_needed(10_001) == (1, False)
    assert policy.approvals_needed(100_000) == (1, False)
    assert policy.approvals_needed(100_001) == (2, True)
    no_finance = ApprovalPolicy(auto_approve_up_to_minor=0)
    assert no_finance.approvals_needed(0) == (0, False)
    assert no_finance.approvals_needed(1) == (1, False)
    assert no_finance.approvals_needed(10**15) == (1, False)
    equal = ApprovalPolicy(auto_approve_up_to_minor=500, finance_above_minor=500)
    assert equal.approvals_needed(500) == (0, False)
    assert equal.approvals_needed(501) == (2, True)


def test_reward_values_by_tier_fixed_discount_and_perk() -> None:
    tiered = CreditReward(
        amount=CreditAmount(amount_minor=700),
        per_tier={"gold": CreditAmount(percent_of_arr=Decimal(3))},
    )
    assert tiered.value("gold", 1_000_000) == 30_000
    assert tiered.value("silver", 1_000_000) == 700
    only_gold = CreditReward(per_tier={"gold": CreditAmount(percent_of_arr=Decimal(3))})
    assert only_gold.value("silver", 1_000_000) is None
    assert DiscountReward(percent=Decimal(15), months=12).value(10_000) == 18_000
    definition = ProgramDefinition.model_validate(
        body(reward={"kind": "perk", "perks": [{"perk": "workshop"}], "cost_minor": 30_000})
    )
    assert isinstance(definition.reward, PerkReward)
    assert reward_value(definition, "silver", 0, 0) == 30_000


def test_only_someone_other_than_the_author_and_the_owner_approves() -> None:
    assert approval_refusal("bob", author="ada", owner="cy") is None
    assert "wrote" in (approval_refusal("ada", author="ada", owner="cy") or "")
    assert "owns" in (approval_refusal("cy", author="ada", owner="cy") or "")


@pytest.mark.parametrize(
    ("current", "target", "has_live", "allowed"),
    [
        ("draft", "active", False, False),
        ("draft", "active", True, True),
        ("draft", "paused", False, False),
        ("draft", "archived", False, True),
        ("active", "paused", True, True),
        ("active", "active", True, False),
        ("active", "archived", True, True),
        ("paused", "active", True, True),
        ("paused", "paused", True, False),
        ("paused", "archived", True, True),
        ("archived", "active", True, False),
        ("archived", "paused", True, False),
        ("archived", "archived", True, False),
        ("active", "draft", True, False),
    ],
)
def test_status_changes(current: Any, target: Any, has_live: bool, allowed: bool) -> None:
    assert (status_refusal(current, target, has_live) is None) is allowed


def test_the_eight_defaults_validate_and_hold_out_and_cool_down() -> None:
    assert sorted(DEFAULT_PROGRAMS) == [
        "activation_pass",
        "annual_conversion",
        "at_risk_workshop",
        "expansion_upgrade",
        "power_user_access",
        "renewal_credit",
        "save_before_discount",
        "seat_expansion",
    ]
    for key, definition in DEFAULT_PROGRAMS.items():
        stored = definition.model_dump(mode="json")
        assert ProgramDefinition.model_validate(stored) == definition, key
        assert definition.owner == SYSTEM_PRINCIPAL
        assert definition.currency == "USD"
        assert definition.holdout_percent == Decimal(10)
        assert definition.limits.cooldown_days >= 90, key
        assert len(key) <= 40  # program_seeds.default_key


def test_default_values_are_those_of_the_product() -> None:
    renewal = DEFAULT_PROGRAMS["renewal_credit"]
    assert isinstance(renewal.reward, CreditReward)
    assert renewal.reward.value("silver", 1_000_000) == 10_000
    assert renewal.reward.value("gold", 1_000_000) == 30_000
    assert renewal.reward.value("platinum", 1_000_000) == 50_000
    assert renewal.reward.expires_after == timedelta(days=90)
    assert renewal.limits.budget_minor == 10_000_000
    assert renewal.limits.arr_cap_percent == Decimal(10)
    assert (renewal.limits.period_days, renewal.limits.cooldown_days) == (365, 300)
    assert renewal.approval.approvals_needed(10_000) == (0, False)
    assert renewal.approval.approvals_needed(100_001) == (2, True)

    seats = DEFAULT_PROGRAMS["seat_expansion"]
    assert reward_value(seats, "gold", 0, 0) == 50_000
    assert seats.approval.approvals_needed(50_000) == (1, False)
    assert seats.limits.period_days == 180

    annual = DEFAULT_PROGRAMS["annual_conversion"]
    assert annual.eligibility.billing_periods == ["monthly"]
    assert reward_value(annual, "silver", 120_000, 10_000) == 12_000

    save = DEFAULT_PROGRAMS["save_before_discount"]
    assert isinstance(save.reward, PerkReward)
    assert [p.perk for p in save.reward.perks] == ["pause_option", "downgrade_path"]
    assert save.approval.approvals_needed(save.reward.cost_minor) == (0, False)

    activation = DEFAULT_PROGRAMS["activation_pass"]
    assert isinstance(activation.reward, PerkReward)
    assert activation.reward.perks[0].days == 7
    assert activation.approval.approvals_needed(activation.reward.cost_minor) == (0, False)
    assert activation.limits.period_days == 3650

    power = DEFAULT_PROGRAMS["power_user_access"]
    assert reward_value(power, "gold", 0, 0) == 0
    assert power.approval.approvals_needed(0) == (0, False)

    workshop = DEFAULT_PROGRAMS["at_risk_workshop"]
    assert workshop.approval.approvals_needed(reward_value(workshop, "gold", 0, 0) or 0) == (
        1,
        False,
    )

    upgrade = DEFAULT_PROGRAMS["expansion_upgrade"]
    assert isinstance(upgrade.reward, PerkReward)
    assert upgrade.reward.perks[0].discount_percent == Decimal(15)
    assert upgrade.approval.approvals_needed(upgrade.reward.cost_minor) == (1, False)


@pytest.mark.parametrize("key", sorted(DEFAULT_PROGRAMS))
def test_every_default_trigger_compiles(key: str) -> None:
    compile_trigger(DEFAULT_PROGRAMS[key].trigger)


@pytest.mark.parametrize(("days", "matched"), [(61, False), (60, True), (0, True), (-1, False)])
def test_the_renewal_credit_runs_from_sixty_days_before_renewal_to_the_day(
    days: int, matched: bool
) -> None:
    trigger = compile_trigger(DEFAULT_PROGRAMS["renewal_credit"].trigger)
    context = account_context(snapshot("acct", days_to_renewal=days), [trigger])
    assert evaluate(trigger, context).matched is matched


def test_the_owner_now_cannot_approve_a_version_that_hands_the_program_on() -> None:
    assert approval_refusal("olga", "author", "new-owner", current_owner="olga") is not None
    assert approval_refusal("ann", "author", "new-owner", current_owner="olga") is None


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"limits": {"max_offers_per_account": True}}, ("limits", "max_offers_per_account")),
        ({"limits": {"cooldown_days": "5"}}, ("limits", "cooldown_days")),
        ({"limits": {"period_days": 30.0}}, ("limits", "period_days")),
        (
            {"reward": {"kind": "credit", "amount": {"amount_minor": True}}},
            ("reward", "credit", "amount", "amount_minor"),
        ),
        (
            {"reward": {"kind": "credit", "amount": {"amount_minor": 5}, "expires_after": True}},
            ("reward", "credit", "expires_after"),
        ),
        (
            {"reward": {"kind": "discount", "percent": 10, "months": True}},
            ("reward", "discount", "months"),
        ),
        ({"window": {"starts_at": 0}}, ("window", "starts_at")),
        ({"window": {"ends_at": "1700000000"}}, ("window", "ends_at")),
        (
            {"reward": {"kind": "perk", "perks": [{"perk": "feature_pass"}]}},
            ("reward", "perk", "perks", 0),
        ),
        (
            {"reward": {"kind": "perk", "perks": [{"perk": "training_credits"}]}},
            ("reward", "perk", "perks", 0),
        ),
    ],
)
def test_booleans_strings_and_epoch_numbers_are_not_taken_for_numbers_and_times(
    changes: dict[str, Any], where: tuple[str | int, ...]
) -> None:
    assert where in problem_locations(body(**changes))
