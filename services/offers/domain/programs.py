"""What a program is: its versioned definition, and the money rules read off it.

A definition is a value: validated once when saved (pydantic, so every field problem is a
422 naming the field), stored as JSON with its version, and read back the same. Money is
integer minor units of the program's currency; percents are decimals (``3`` is 3 %), never
floats, and a percent of an amount rounds half to even to a whole minor unit.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from shared.contracts import (
    MAX_AMOUNT_MINOR,
    AccountStatus,
    BillingPeriod,
    CurrencyCode,
    Money,
    MotionSegment,
    Segment,
    Tier,
)
from shared.validation import Instant, Text

ProgramStatus = Literal["draft", "active", "paused", "archived"]
MinorAmount = Annotated[Money, Field(strict=True, description="Integer minor units")]
Percent = Annotated[Decimal, Field(ge=0, le=100, max_digits=9, decimal_places=4)]
# Its own bounds: a tighter ``le`` on a ``Percent`` field loses to the type's own ``le=100``.
HoldoutPercent = Annotated[Decimal, Field(ge=0, le=50, max_digits=9, decimal_places=4)]
Currency = Annotated[CurrencyCode, Field(description="ISO 4217 code")]


def _not_a_boolean(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("a duration is an ISO 8601 duration (P90D) or a number of seconds")
    return value


# JSON's true is not one second.
Duration = Annotated[timedelta, BeforeValidator(_not_a_boolean)]
PerkKind = Literal[
    "feature_pass",
    "beta_access",
    "training_credits",
    "workshop",
    "pause_option",
    "downgrade_path",
    "annual_plan_offer",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def percent_of(amount_minor: int, percent: Decimal) -> int:
    """``percent`` % of ``amount_minor``, rounded half to even to a whole minor unit."""
    exact = Decimal(amount_minor) * percent / 100
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def _active_only() -> list[AccountStatus]:
    return ["active"]


class Eligibility(_Strict):
    """Who a program is for; an empty list allows every value."""

    segments: list[Segment] = Field(default_factory=list)
    tiers: list[Tier] = Field(default_factory=list)
    motion_segments: list[MotionSegment] = Field(default_factory=list)
    billing_periods: list[BillingPeriod] = Field(default_factory=list)
    statuses: list[AccountStatus] = Field(
        default_factory=_active_only,
        description="Account statuses offered to (a cancelled account gets no renewal credit)",
    )


class CreditAmount(_Strict):
    """A credit's size: a fixed amount, or a percent of the account's ARR (one of the two)."""

    amount_minor: MinorAmount | None = None
    percent_of_arr: Percent | None = None

    @model_validator(mode="after")
    def _one_of(self) -> CreditAmount:
        if (self.amount_minor is None) == (self.percent_of_arr is None):
            raise ValueError("give exactly one of amount_minor and percent_of_arr")
        return self

    def value(self, arr_minor: int) -> int:
        """The credit in minor units for an account with this ARR."""
        if self.amount_minor is not None:
            return self.amount_minor
        assert self.percent_of_arr is not None
        return percent_of(arr_minor, self.percent_of_arr)


class CreditReward(_Strict):
    """Credit granted in the ledger, expiring a while after it is approved."""

    kind: Literal["credit"] = "credit"
    amount: CreditAmount | None = Field(default=None, description="For tiers not listed below")
    per_tier: dict[Tier, CreditAmount] = Field(default_factory=dict)
    expires_after: Duration = Field(
        default=timedelta(days=90),
        ge=timedelta(seconds=1),
        le=timedelta(days=3650),
        description="How long the credit lasts: an ISO 8601 duration (P90D) or seconds",
    )

    @model_validator(mode="after")
    def _some_amount(self) -> CreditReward:
        if self.amount is None and not self.per_tier:
            raise ValueError("give amount, per_tier, or both")
        return self

    def value(self, tier: Tier, arr_minor: int) -> int | None:
        """The credit for an account of this tier and ARR; None when its tier gets none."""
        amount = self.per_tier.get(tier, self.amount)
        return None if amount is None else amount.value(arr_minor)


class DiscountReward(_Strict):
    """A discount on the subscription for some months; it costs that share of the MRR."""

    kind: Literal["discount"] = "discount"
    percent: Percent
    months: int = Field(ge=1, le=36, strict=True)

    def value(self, mrr_minor: int) -> int:
        """What the discount gives away over its months."""
        return percent_of(mrr_minor * self.months, self.percent)


class Perk(_Strict):
    """One perk; ``days`` for a feature pass, ``quantity`` for training credits (both
    required there), ``discount_percent`` for an annual-plan offer."""

    perk: PerkKind
    days: int | None = Field(default=None, ge=1, le=3650, strict=True)
    quantity: int | None = Field(default=None, ge=1, le=10_000, strict=True)
    discount_percent: Percent | None = None

    @model_validator(mode="after")
    def _what_it_needs(self) -> Perk:
        if self.perk == "feature_pass" and self.days is None:
            raise ValueError("a feature pass needs days")
        if self.perk == "training_credits" and self.quantity is None:
            raise ValueError("training credits need a quantity")
        return self


class PerkReward(_Strict):
    """Perks that cost money to give (a workshop's hours) but move none through the ledger."""

    kind: Literal["perk"] = "perk"
    perks: list[Perk] = Field(min_length=1, max_length=10)
    cost_minor: MinorAmount = Field(default=0, description="What giving them costs, for budgets")


Reward = Annotated[CreditReward | DiscountReward | PerkReward, Field(discriminator="kind")]


class Limits(_Strict):
    """How often, and how much, a program may give."""

    max_offers_per_account: int = Field(default=1, ge=1, le=1000, strict=True)
    period_days: int = Field(default=365, ge=1, le=3650, strict=True)
    cooldown_days: int = Field(default=30, ge=0, le=3650, strict=True)
    budget_minor: MinorAmount | None = Field(default=None, description="None: no budget cap")
    tier_budgets_minor: dict[Tier, MinorAmount] = Field(default_factory=dict)
    arr_cap_percent: Percent | None = Field(
        default=None,
        description="Cap on an account's incentive value from every program over the last"
        " 365 days, as a percent of its ARR",
    )


class ApprovalPolicy(_Strict):
    """Offers worth up to ``auto_approve_up_to_minor`` are approved at once; above it one
    approver; above ``finance_above_minor`` an approver and someone from finance."""

    auto_approve_up_to_minor: MinorAmount = 0
    finance_above_minor: MinorAmount | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ApprovalPolicy:
        if (
            self.finance_above_minor is not None
            and self.finance_above_minor < self.auto_approve_up_to_minor
        ):
            raise ValueError("finance_above_minor is below auto_approve_up_to_minor")
        return self

    def approvals_needed(self, value_minor: int) -> tuple[int, bool]:
        """(approvals required, whether one of them is finance's) for an offer's value."""
        if value_minor <= self.auto_approve_up_to_minor:
            return 0, False
        if self.finance_above_minor is not None and value_minor > self.finance_above_minor:
            return 2, True
        return 1, False


class Window(_Strict):
    """When a program may offer anything; either end open."""

    starts_at: Instant | None = None
    ends_at: Instant | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at is not after starts_at")
        return self


class ProgramDefinition(_Strict):
    """Everything a program version says. Editing any of it makes a new version."""

    name: Text = Field(min_length=1, max_length=200)
    description: Text = Field(default="", max_length=2000)
    owner: Text = Field(min_length=1, max_length=200, description="The principal who owns it")
    currency: Currency = "USD"
    trigger: Text = Field(min_length=1, max_length=4000, description="CEL over `account`")
    eligibility: Eligibility = Field(default_factory=Eligibility)
    reward: Reward
    limits: Limits = Field(default_factory=Limits)
    approval: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    holdout_percent: HoldoutPercent = Decimal(10)
    window: Window = Field(default_factory=Window)


def reward_value(
    definition: ProgramDefinition, tier: Tier, arr_minor: int, mrr_minor: int
) -> int | None:
    """What an offer of this program costs for an account; None when the reward has nothing
    for its tier."""
    reward = definition.reward
    if isinstance(reward, CreditReward):
        return reward.value(tier, arr_minor)
    if isinstance(reward, DiscountReward):
        return reward.value(mrr_minor)
    return reward.cost_minor


def value_problem(definition: ProgramDefinition, value_minor: int) -> str | None:
    """Why an offer of this value cannot be made, if it cannot: a credit or discount worth
    nothing (a percent of a tiny ARR rounds to 0), or more than the ledger holds in one piece.
    A perk may cost nothing."""
    if value_minor > MAX_AMOUNT_MINOR:
        return f"the reward would be worth {value_minor}, more than {MAX_AMOUNT_MINOR}"
    if value_minor <= 0 and not isinstance(definition.reward, PerkReward):
        return "the reward would be worth nothing for this account"
    return None
