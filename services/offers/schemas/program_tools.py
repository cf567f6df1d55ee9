"""Bodies of the programs' read-only tools: every program's figures, a trigger checked on its
own, and one account decided without recording anything."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from services.offers.domain.decisions import DecisionOutcome
from services.offers.domain.offers import OfferState
from services.offers.domain.programs import ProgramDefinition, ProgramStatus
from services.offers.schemas.simulation import BudgetOut, SimulatedSource
from shared.validation import Text


class ProgramSummaryOut(BaseModel):
    """One program's figures: its status and versions, what its offers reserve and spend,
    its offers by state, and each budget with the day it runs out at the recent pace."""

    id: str
    status: ProgramStatus
    name: str | None = Field(description="The live version's name, else the newest one's")
    owner: str | None
    currency: str | None
    live_version: int | None
    pending_version: int | None = Field(description="The version awaiting approval, if any")
    latest_version: int
    offers_by_state: dict[OfferState, int]
    reserved_minor: int = Field(
        description="Held by offers awaiting approval or approved, not yet given"
    )
    spent_minor: int = Field(description="Held by offers issued or redeemed")
    budget_cap_minor: int | None = Field(description="The program budget's cap; null: no cap")
    committed_minor: int = Field(description="Committed against the program budget now")
    budgets: list[BudgetOut] = Field(
        description="Every budget, as a simulation reports it with nothing simulated:"
        " the pace is the program's recent offers (`simulated_minor` is 0)"
    )
    budget_runs_out_on: date | None = Field(
        description="When the program budget runs out at the recent pace; null without a"
        " cap or a recent spend"
    )


class CheckTriggerIn(BaseModel):
    """A CEL trigger to check, as a program's ``trigger`` is checked when saved."""

    model_config = ConfigDict(extra="forbid")

    trigger: Text = Field(min_length=1, max_length=4000)


class TriggerProblemOut(BaseModel):
    """What is wrong in a trigger, where: ``position`` 0-based, ``line`` and ``column``
    1-based."""

    position: int
    line: int
    column: int
    message: str


class CheckTriggerOut(BaseModel):
    """Whether the trigger compiles and checks, and its problems in source order if not."""

    ok: bool
    problems: list[TriggerProblemOut]


class DryRunIn(BaseModel):
    """One account to decide the program for: with ``definition`` (checked as a save checks
    it), else the pending version, else the live one."""

    model_config = ConfigDict(extra="forbid")

    account_id: Text = Field(min_length=1, max_length=200)
    definition: ProgramDefinition | None = None


class DryRunUnsavedIn(BaseModel):
    """One account to decide a definition not saved as a program yet for."""

    model_config = ConfigDict(extra="forbid")

    account_id: Text = Field(min_length=1, max_length=200)
    definition: ProgramDefinition


class DryRunBudget(BaseModel):
    """A budget the would-be offer reserves against, and whether it fits now."""

    scope: str
    cap_minor: int
    committed_minor: int
    fits: bool


class DryRunOut(BaseModel):
    """What the program would decide for the account now; nothing was recorded, reserved or
    offered."""

    program_id: str | None = Field(description="Null for a definition not saved yet")
    account_id: str
    simulated: SimulatedSource
    version: int | None = Field(description="The version decided; null for an edited one")
    outcome: DecisionOutcome
    reason: str
    value_minor: int | None = Field(description="The would-be offer's value when offered")
    currency: str
    approvals_required: int | None = Field(description="When offered: approvals it would need")
    finance_required: bool | None
    budgets: list[DryRunBudget] = Field(description="When offered: each budget it would reserve")
