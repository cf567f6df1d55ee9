"""Simulation's bodies: optionally an edited definition in, what the program would do out."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.offers.domain.decisions import DecisionOutcome
from services.offers.domain.programs import ProgramDefinition
from services.offers.domain.simulation import PACE_WINDOW_DAYS, PaceBasis
from shared.contracts import Segment, Tier

# Which definition ran: the one in the body, the version awaiting approval, or the live one.
SimulatedSource = Literal["edited", "pending", "live"]


class SimulateIn(BaseModel):
    """What to simulate: an edited definition (checked as a save checks it), or, when absent,
    the program's pending version if it has one, else its live one."""

    model_config = ConfigDict(extra="forbid")

    definition: ProgramDefinition | None = None


class SimulateUnsavedIn(BaseModel):
    """A definition not saved as a program yet, to simulate before creating it."""

    model_config = ConfigDict(extra="forbid")

    definition: ProgramDefinition


class GroupOut(BaseModel):
    """Would-be offers to one group of accounts."""

    offers: int = Field(description="Accounts that would be offered")
    cost_minor: int = Field(description="What those offers would cost")
    arr_minor: int = Field(description="Those accounts' ARR")


class BudgetOut(BaseModel):
    """One of the program's budgets: its cap, what is committed now, what the simulated offers
    would add, and when it runs out at the pace."""

    scope: str = Field(description="`program`, or `tier:<tier>`")
    cap_minor: int
    committed_minor: int = Field(description="Committed against it now")
    simulated_minor: int = Field(description="What the simulated offers would commit")
    pace_basis: PaceBasis | None = Field(
        description=f"`recent_offers`: the program's offers of the last {PACE_WINDOW_DAYS}"
        f" days; `simulation`: the simulated offers spread over the next {PACE_WINDOW_DAYS}"
        " days (when it has no recent offers); null when neither spends anything"
    )
    pace_minor: int = Field(description=f"Spent per {PACE_WINDOW_DAYS} days at that pace")
    runs_out_on: date | None = Field(
        description="The day committed + pace x days reaches the cap (today when nothing is"
        " left); null when nothing is spent, or not before the calendar ends (9999-12-31)"
    )


class SimulationOut(BaseModel):
    """What the program would do on every kept snapshot now; nothing was recorded, reserved
    or offered."""

    program_id: str | None = Field(description="Null for a definition not saved yet")
    simulated: SimulatedSource
    version: int | None = Field(description="The version simulated; null for an edited one")
    currency: str
    simulated_at: datetime
    accounts: int = Field(description="Kept snapshots decided")
    outcomes: dict[DecisionOutcome, int] = Field(description="Accounts by outcome, every one")
    offers: int
    cost_minor: int
    arr_minor: int = Field(description="The ARR of the accounts that would be offered")
    cost_percent_of_arr: Decimal | None = Field(
        description="Cost as a percent of that ARR, two places; null when nothing is offered"
    )
    by_tier: dict[Tier, GroupOut]
    by_segment: dict[Segment, GroupOut]
    budgets: list[BudgetOut]
    budget_runs_out_on: date | None = Field(
        description="When the program budget runs out (see `budgets`); null without one"
    )
