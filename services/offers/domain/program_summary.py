"""A program at a glance, for a list of every program: its budgets with their run-out dates
(the simulation's own rule, with nothing simulated), and its offers by state with what
they hold against the budgets (pure).

What the offers hold is split the way a budget reads: ``reserved`` by offers still waiting
(``pending_approval``, ``approved``: nothing given yet), ``spent`` by offers given
(``issued``, ``redeemed``); each is an offer's value less what it gave back. Offers that
ended otherwise (rejected, revoked, expired) hold nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import get_args

from services.offers.domain.offers import OfferState
from services.offers.domain.programs import ProgramDefinition
from services.offers.domain.simulation import BudgetForecast, Simulation

OFFER_STATES: tuple[OfferState, ...] = get_args(OfferState)
RESERVING: frozenset[OfferState] = frozenset({"pending_approval", "approved"})
SPENDING: frozenset[OfferState] = frozenset({"issued", "redeemed"})


@dataclass(frozen=True)
class StateTally:
    """A program's offers in one state: how many, and what they hold against its budgets."""

    offers: int = 0
    held_minor: int = 0


@dataclass(frozen=True)
class ProgramSummary:
    """One program's figures: offers by state, what they reserve and spend, its budgets."""

    offers_by_state: dict[OfferState, int]
    reserved_minor: int
    spent_minor: int
    budgets: tuple[BudgetForecast, ...]
    budget_runs_out_on: date | None


def summarise(
    definition: ProgramDefinition | None,
    committed: Mapping[str, int],
    recent: Mapping[str, int],
    tallies: Mapping[OfferState, StateTally],
    today: date,
) -> ProgramSummary:
    """A program's figures from its definition (None: no version reads, so no budgets),
    what its budgets hold (``committed``) and took over the pace window (``recent``), both
    by scope, and its offers by state. The budgets and their run-out dates are the
    simulation's (``Simulation.result``) with no simulated offers: the pace is the recent
    spend, counted from what is committed."""
    budgets: tuple[BudgetForecast, ...] = ()
    if definition is not None:
        budgets = Simulation(definition, committed=committed, recent=recent).result(today).budgets
    program = next((b for b in budgets if b.scope == "program"), None)
    return ProgramSummary(
        offers_by_state={s: tallies.get(s, StateTally()).offers for s in OFFER_STATES},
        reserved_minor=sum(tallies.get(s, StateTally()).held_minor for s in sorted(RESERVING)),
        spent_minor=sum(tallies.get(s, StateTally()).held_minor for s in sorted(SPENDING)),
        budgets=budgets,
        budget_runs_out_on=program.runs_out_on if program else None,
    )
