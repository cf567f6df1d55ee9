"""Simulating a program on the whole book: its verdicts folded into what it would offer, what
that would cost, and when its budgets would run out at that pace.

Nothing is reserved. The would-be offers are applied to a copy of the budgets' committed
amounts, in the order they are added (the service adds them in account id order, the order
an evaluation of the book reserves them in), with the rule the reservation statement
applies (``decisions.fits``): an offer that would not fit one of its budgets is counted
``budget_exhausted`` and offered nothing, as the real thing would record it.

The run-out date, per budget ("at that pace"):

- the pace is what this program committed against the budget over the last
  ``PACE_WINDOW_DAYS`` days (its offers created in that window still committing, less what
  they gave back), spread evenly over the window: the pace it is spending at now;
- a program with no such spend (a draft, or a live program quiet for a month) takes the
  simulated offers as its pace instead, spread evenly over the next ``PACE_WINDOW_DAYS``
  days: what it would spend once it starts;
- a live program with such spend makes the simulated offers now (the accounts that match now
  are offered at their next decision), and spends at its pace after them: the run-out counts
  from committed + simulated; a program paced by the simulation itself counts from what is
  committed, as its simulated offers are the pace;
- the budget runs out on the first day on which that + pace x days reaches the cap:
  ``today + ceil((cap - start) x window / spend)`` days, today itself when nothing is
  left; no date when there is no cap, no spend at all, or the day would fall after the
  calendar's last (9999-12-31).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal, get_args

from services.offers.domain.decisions import OUTCOMES, AccountView, DecisionOutcome, Verdict, fits
from services.offers.domain.programs import ProgramDefinition
from shared.contracts import Segment, Tier

PACE_WINDOW_DAYS = 30
PaceBasis = Literal["recent_offers", "simulation"]
_TIERS: tuple[Tier, ...] = get_args(Tier)
_SEGMENTS: tuple[Segment, ...] = get_args(Segment)
_CENT = Decimal("0.01")


@dataclass
class Group:
    """Would-be offers of one kind of account: how many, their cost and those accounts' ARR."""

    offers: int = 0
    cost_minor: int = 0
    arr_minor: int = 0

    def add(self, value_minor: int, arr_minor: int) -> None:
        """Count one more offer."""
        self.offers += 1
        self.cost_minor += value_minor
        self.arr_minor += arr_minor


@dataclass(frozen=True)
class BudgetForecast:
    """One budget of the program: its cap, what is committed now, what the simulation would
    add, and when it runs out at the pace (see the module's rule)."""

    scope: str
    cap_minor: int
    committed_minor: int
    simulated_minor: int
    pace_basis: PaceBasis | None
    pace_minor: int  # spent per PACE_WINDOW_DAYS days at that pace
    runs_out_on: date | None


@dataclass(frozen=True)
class SimulationResult:
    """Everything a simulation found."""

    accounts: int
    outcomes: dict[DecisionOutcome, int]
    offered: Group
    cost_percent_of_arr: Decimal | None
    by_tier: dict[Tier, Group]
    by_segment: dict[str, Group]
    budgets: tuple[BudgetForecast, ...]


def percent_of_arr(cost_minor: int, arr_minor: int) -> Decimal | None:
    """``cost_minor`` as a percent of ``arr_minor``, two places, half to even; None when there
    is no ARR to compare with."""
    if arr_minor <= 0:
        return None
    return (Decimal(cost_minor) * 100 / Decimal(arr_minor)).quantize(_CENT, ROUND_HALF_EVEN)


def runs_out_on(cap_minor: int, committed_minor: int, spend_minor: int, today: date) -> date | None:
    """The day committed + pace x days reaches the cap, the pace being ``spend_minor`` per
    ``PACE_WINDOW_DAYS`` days; today when nothing is left, None when nothing is spent or
    the day is past the calendar's end (year 9999: a trickle against a huge cap)."""
    remaining = cap_minor - committed_minor
    if remaining <= 0:
        return today
    if spend_minor <= 0:
        return None
    days = -(-remaining * PACE_WINDOW_DAYS // spend_minor)  # ceiling, in exact integers
    if days > (date.max - today).days:
        return None
    return today + timedelta(days=days)


def budget_caps(definition: ProgramDefinition) -> dict[str, int]:
    """Every budget the program has, by the scope name reservations use."""
    limits = definition.limits
    caps = {} if limits.budget_minor is None else {"program": limits.budget_minor}
    caps.update({f"tier:{t}": cap for t, cap in limits.tier_budgets_minor.items()})
    return caps


@dataclass
class Simulation:
    """A running fold of one program's verdicts, one account at a time.

    ``committed`` is what the program's budgets hold now, ``recent`` what it committed
    against each over the last ``PACE_WINDOW_DAYS`` days (both by scope; absent is 0).
    """

    definition: ProgramDefinition
    committed: Mapping[str, int]
    recent: Mapping[str, int]
    accounts: int = 0
    outcomes: Counter[DecisionOutcome] = field(default_factory=Counter)
    offered: Group = field(default_factory=Group)
    by_tier: dict[Tier, Group] = field(default_factory=lambda: {t: Group() for t in _TIERS})
    # By the snapshot's segment (one of ``Segment``: the contract validates it).
    by_segment: dict[str, Group] = field(default_factory=lambda: {s: Group() for s in _SEGMENTS})
    simulated: Counter[str] = field(default_factory=Counter)

    def add(self, account: AccountView, verdict: Verdict) -> DecisionOutcome:
        """Count one account's verdict, reserving a would-be offer against the simulated
        budgets (all of them or none); the outcome it counted."""
        self.accounts += 1
        outcome = verdict.outcome
        if outcome == "offered":
            value = verdict.value_minor
            assert value is not None
            if all(
                fits(self.committed.get(scope, 0) + self.simulated[scope], value, cap)
                for scope, cap in verdict.budget_scopes
            ):
                for scope, _cap in verdict.budget_scopes:
                    self.simulated[scope] += value
                for group in (
                    self.offered,
                    self.by_tier[account.tier],
                    self.by_segment[account.segment],
                ):
                    group.add(value, account.arr_minor)
            else:
                outcome = "budget_exhausted"
        self.outcomes[outcome] += 1
        return outcome

    def result(self, today: date) -> SimulationResult:
        """The totals so far, with each budget's run-out date counted from ``today``."""
        forecasts = []
        for scope, cap in budget_caps(self.definition).items():
            committed = self.committed.get(scope, 0)
            recent = self.recent.get(scope, 0)
            simulated = self.simulated[scope]
            basis: PaceBasis | None = None
            if recent > 0:
                basis = "recent_offers"
            elif simulated > 0:
                basis = "simulation"
            pace = recent if recent > 0 else simulated
            start = committed + simulated if recent > 0 else committed
            forecasts.append(
                BudgetForecast(
                    scope=scope,
                    cap_minor=cap,
                    committed_minor=committed,
                    simulated_minor=simulated,
                    pace_basis=basis,
                    pace_minor=pace,
                    runs_out_on=runs_out_on(cap, start, pace, today),
                )
            )
        return SimulationResult(
            accounts=self.accounts,
            outcomes={o: self.outcomes[o] for o in OUTCOMES},
            offered=self.offered,
            cost_percent_of_arr=percent_of_arr(self.offered.cost_minor, self.offered.arr_minor),
            by_tier=self.by_tier,
            by_segment=self.by_segment,
            budgets=tuple(forecasts),
        )
