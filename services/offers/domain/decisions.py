"""Deciding one program for one account: the rules in the order they are applied.

eligibility (status, currency, segment, tier, motion, billing period, window, a reward for
the tier) → trigger → holdout → cooldown → offers per account per period → the ARR cap →
(the budgets, reserved in the database, see ``service.evaluation``) → offered.

Holdout comes after the trigger and before the limits: the held-out group must be accounts
the program would otherwise have offered to, judged by the same rules, or the comparison of
the two groups (issue 11's results) proves nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, get_args

from services.offers.domain.offers import COMMITTING, OfferState
from services.offers.domain.programs import (
    ProgramDefinition,
    percent_of,
    reward_value,
    value_problem,
)
from shared.contracts import Tier

DecisionOutcome = Literal[
    "not_eligible",
    "trigger_false",
    "holdout",
    "cooldown",
    "account_limit",
    "arr_cap",
    "budget_exhausted",
    "offered",
]
OUTCOMES: tuple[DecisionOutcome, ...] = get_args(DecisionOutcome)
# The ARR cap looks back this far over an account's offers from every program.
ARR_CAP_LOOKBACK = timedelta(days=365)
# The scope of a program's program-wide budget (a tier's is ``tier:<tier>``).
PROGRAM_BUDGET = "program"
_HOLDOUT_BUCKETS = 10_000  # basis points: a holdout percent of 12.34 is 1,234 buckets


@dataclass(frozen=True)
class AccountView:
    """The few snapshot fields the rules read (the trigger reads the rest)."""

    account_id: str
    status: str
    currency: str
    segment: str
    tier: Tier
    motion_segment: str
    billing_period: str
    arr_minor: int
    mrr_minor: int

    @classmethod
    def of(cls, snapshot: Mapping[str, Any]) -> AccountView:
        """Read them off a snapshot as stored (``Snapshot`` in its JSON form)."""
        return cls(
            account_id=snapshot["account_id"],
            status=snapshot["status"],
            currency=snapshot["currency"],
            segment=snapshot["segment"],
            tier=snapshot["tier"],
            motion_segment=snapshot["motion_segment"],
            billing_period=snapshot["billing_period"],
            arr_minor=snapshot["arr_minor"],
            mrr_minor=snapshot["mrr_minor"],
        )


@dataclass(frozen=True)
class PastOffer:
    """An offer the account already had, as the limits count it."""

    program_id: str
    created_at: datetime
    value_minor: int
    released_minor: int
    state: OfferState


@dataclass(frozen=True)
class Verdict:
    """What the rules decided, before any budget is reserved.

    ``offered`` here means "offer, if the budgets allow": the caller reserves them and
    records ``budget_exhausted`` when one is full.
    """

    outcome: DecisionOutcome
    reason: str
    value_minor: int | None = None
    budget_scopes: tuple[tuple[str, int], ...] = field(default=())


def in_holdout(program_id: str, account_id: str, holdout_percent: Decimal) -> bool:
    """Whether the account is in the program's holdout: a SHA-256 of both ids, so the same on
    every machine and after every restart, independent across programs."""
    digest = hashlib.sha256(f"{program_id}\x00{account_id}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") % _HOLDOUT_BUCKETS
    return bucket < holdout_percent * (_HOLDOUT_BUCKETS // 100)


def eligibility_problem(
    definition: ProgramDefinition, account: AccountView, now: datetime
) -> str | None:
    """Which eligibility rule the account fails, in words; None when it passes them all."""
    rules = definition.eligibility
    checks: tuple[tuple[str, str, Sequence[str]], ...] = (
        ("status", account.status, rules.statuses),
        ("segment", account.segment, rules.segments),
        ("tier", account.tier, rules.tiers),
        ("motion segment", account.motion_segment, rules.motion_segments),
        ("billing period", account.billing_period, rules.billing_periods),
    )
    for name, value, allowed in checks:
        if allowed and value not in allowed:
            return f"{name} {value} is not one of {', '.join(allowed)}"
    if account.currency != definition.currency:
        return f"the account pays in {account.currency}, the program in {definition.currency}"
    window = definition.window
    if window.starts_at is not None and now < window.starts_at:
        return f"the program starts at {window.starts_at.isoformat()}"
    if window.ends_at is not None and now >= window.ends_at:
        return f"the program ended at {window.ends_at.isoformat()}"
    return None


def limit_problem(
    program_id: str,
    definition: ProgramDefinition,
    history: Sequence[PastOffer],
    value_minor: int,
    arr_minor: int,
    now: datetime,
) -> tuple[DecisionOutcome, str] | None:
    """The cooldown, the per-account limit or the ARR cap the offer would break, if any."""
    limits = definition.limits
    own = [o for o in history if o.program_id == program_id]
    if own and limits.cooldown_days:
        until = max(o.created_at for o in own) + timedelta(days=limits.cooldown_days)
        if now < until:
            return "cooldown", f"cooling down until {until.isoformat()}"
    since = now - timedelta(days=limits.period_days)
    counted = [o for o in own if o.created_at > since and o.state != "rejected"]
    if len(counted) >= limits.max_offers_per_account:
        return (
            "account_limit",
            f"{len(counted)} offer(s) in the last {limits.period_days} days,"
            f" at most {limits.max_offers_per_account}",
        )
    if limits.arr_cap_percent is not None:
        cap = percent_of(arr_minor, limits.arr_cap_percent)
        given = sum(
            o.value_minor - o.released_minor
            for o in history
            if o.created_at > now - ARR_CAP_LOOKBACK and (o.state in COMMITTING)
        )
        if given + value_minor > cap:
            return (
                "arr_cap",
                f"{given} already offered + {value_minor} is over the cap of {cap}"
                f" ({limits.arr_cap_percent}% of ARR {arr_minor})",
            )
    return None


def history_lookback(definitions: Iterable[ProgramDefinition]) -> timedelta:
    """How far back the limits of these programs look at an account's offers."""
    days = max(
        (max(d.limits.period_days, d.limits.cooldown_days) for d in definitions),
        default=0,
    )
    return max(timedelta(days=days), ARR_CAP_LOOKBACK)


def budget_scopes(definition: ProgramDefinition, tier: Tier) -> tuple[tuple[str, int], ...]:
    """The budgets an offer to an account of this tier reserves against, with their caps,
    in the order they are locked (the same everywhere, so reservations never deadlock)."""
    scopes: list[tuple[str, int]] = []
    if definition.limits.budget_minor is not None:
        scopes.append((PROGRAM_BUDGET, definition.limits.budget_minor))
    tier_cap = definition.limits.tier_budgets_minor.get(tier)
    if tier_cap is not None:
        scopes.append((f"tier:{tier}", tier_cap))
    return tuple(scopes)


def fits(committed_minor: int, value_minor: int, cap_minor: int) -> bool:
    """Whether an offer of ``value_minor`` fits a budget with ``committed_minor`` already
    committed (``repository.budgets.reserve`` applies this in its statement, atomically)."""
    return committed_minor + value_minor <= cap_minor


def decide(
    program_id: str,
    definition: ProgramDefinition,
    account: AccountView,
    trigger: Callable[[], tuple[bool, str]],
    history: Sequence[PastOffer],
    now: datetime,
) -> Verdict:
    """Apply the rules, in order, to one account; ``trigger`` evaluates the program's CEL
    trigger against the account (only once the account is eligible)."""
    problem = eligibility_problem(definition, account, now)
    if problem is not None:
        return Verdict("not_eligible", problem)
    value = reward_value(definition, account.tier, account.arr_minor, account.mrr_minor)
    if value is None:
        return Verdict("not_eligible", f"the reward has nothing for tier {account.tier}")
    worthless = value_problem(definition, value)
    if worthless is not None:
        return Verdict("not_eligible", worthless)
    matched, why = trigger()
    if not matched:
        return Verdict("trigger_false", why)
    if in_holdout(program_id, account.account_id, definition.holdout_percent):
        return Verdict("holdout", f"in the {definition.holdout_percent}% holdout")
    limited = limit_problem(program_id, definition, history, value, account.arr_minor, now)
    if limited is not None:
        return Verdict(*limited)
    return Verdict("offered", "trigger matched", value, budget_scopes(definition, account.tier))
