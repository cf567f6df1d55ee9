"""The eight programs Tenure ships (PRODUCT §4), created once per database at first start.

Each is owned, written and approved by the system principal ``tenure`` and keyed by a name
a CRM can use (its program id is that key). Money is USD cents. Every one holds 10 % of
eligible accounts out and cools down for months, so an account is not offered the same thing
again and again.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from services.offers.domain.programs import (
    ApprovalPolicy,
    CreditAmount,
    CreditReward,
    Eligibility,
    Limits,
    Perk,
    PerkReward,
    ProgramDefinition,
)

SYSTEM_PRINCIPAL = "tenure"

# Credits above $100 need an approver, above $1,000 finance as well.
_CREDIT_APPROVAL = ApprovalPolicy(auto_approve_up_to_minor=10_000, finance_above_minor=100_000)
# A perk that costs nothing is given at once; one that costs anything needs an approver.
_FREE_OR_ONE_APPROVER = ApprovalPolicy(auto_approve_up_to_minor=0)


def _program(name: str, description: str, trigger: str, **fields: object) -> ProgramDefinition:
    return ProgramDefinition.model_validate(
        {
            "name": name,
            "description": description,
            "owner": SYSTEM_PRINCIPAL,
            "currency": "USD",
            "trigger": trigger,
            "holdout_percent": Decimal(10),
            **fields,
        }
    )


DEFAULT_PROGRAMS: dict[str, ProgramDefinition] = {
    "renewal_credit": _program(
        "Renewal credit",
        "A credit of a share of ARR by tier in the 60 days before renewal.",
        # From 60 days before the renewal date to the day itself: a renewal already past is
        # not one a credit can still win.
        "account.days_to_renewal != null"
        " && account.days_to_renewal >= 0 && account.days_to_renewal <= 60",
        reward=CreditReward(
            per_tier={
                "silver": CreditAmount(percent_of_arr=Decimal(1)),
                "gold": CreditAmount(percent_of_arr=Decimal(3)),
                "platinum": CreditAmount(percent_of_arr=Decimal(5)),
            },
            expires_after=timedelta(days=90),
        ),
        limits=Limits(
            max_offers_per_account=1,
            period_days=365,
            cooldown_days=300,
            budget_minor=10_000_000,
            arr_cap_percent=Decimal(10),
        ),
        approval=_CREDIT_APPROVAL,
    ),
    "seat_expansion": _program(
        "Seat expansion",
        "A fixed credit when an account uses nine seats in ten or more.",
        "account.seat_utilization != null && account.seat_utilization >= 0.9",
        reward=CreditReward(amount=CreditAmount(amount_minor=50_000)),
        limits=Limits(max_offers_per_account=1, period_days=180, cooldown_days=180),
        approval=_CREDIT_APPROVAL,
    ),
    "annual_conversion": _program(
        "Annual conversion",
        "A credit of 10 % of ARR for a monthly account of three paid months or more to move"
        " to annual billing.",
        "account.billing_period == 'monthly' && account.paid_months >= 3",
        eligibility=Eligibility(billing_periods=["monthly"]),
        reward=CreditReward(amount=CreditAmount(percent_of_arr=Decimal(10))),
        limits=Limits(max_offers_per_account=1, period_days=365, cooldown_days=365),
        approval=_CREDIT_APPROVAL,
    ),
    "save_before_discount": _program(
        "Save before discount",
        "A pause or a smaller plan, never a discount, for an account that means to cancel.",
        "account.cancel_intent",
        reward=PerkReward(
            perks=[Perk(perk="pause_option"), Perk(perk="downgrade_path")], cost_minor=0
        ),
        limits=Limits(max_offers_per_account=1, period_days=180, cooldown_days=90),
        approval=_FREE_OR_ONE_APPROVER,
    ),
    "activation_pass": _program(
        "Activation pass",
        "A seven-day pass to a paid feature once onboarding is complete.",
        "'onboarding_complete' in account.milestones",
        reward=PerkReward(perks=[Perk(perk="feature_pass", days=7)], cost_minor=2_000),
        # Once in an account's life: ten years is the longest period a program counts.
        limits=Limits(max_offers_per_account=1, period_days=3650, cooldown_days=3650),
        approval=ApprovalPolicy(auto_approve_up_to_minor=2_000),
    ),
    "power_user_access": _program(
        "Power-user access",
        "Beta access for power users.",
        "account.segment == 'power_user'",
        reward=PerkReward(perks=[Perk(perk="beta_access")], cost_minor=0),
        limits=Limits(max_offers_per_account=1, period_days=365, cooldown_days=180),
        approval=_FREE_OR_ONE_APPROVER,
    ),
    "at_risk_workshop": _program(
        "At-risk workshop",
        "A workshop with the account's team when it is at risk.",
        "account.segment == 'at_risk'",
        reward=PerkReward(perks=[Perk(perk="workshop")], cost_minor=30_000),
        limits=Limits(max_offers_per_account=1, period_days=365, cooldown_days=180),
        approval=_FREE_OR_ONE_APPROVER,
    ),
    "expansion_upgrade": _program(
        "Expansion upgrade",
        "An annual plan at 15 % off for an account ready to expand.",
        "account.segment == 'expansion_ready'",
        reward=PerkReward(
            perks=[Perk(perk="annual_plan_offer", discount_percent=Decimal(15))],
            cost_minor=50_000,
        ),
        limits=Limits(max_offers_per_account=1, period_days=365, cooldown_days=180),
        approval=_FREE_OR_ONE_APPROVER,
    ),
}
