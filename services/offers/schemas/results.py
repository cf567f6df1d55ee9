"""A program's results as offers answers them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from shared.contracts import OutcomeKind


class IntervalOut(BaseModel):
    """A 95% confidence interval."""

    lower: float
    upper: float


class RetentionOut(BaseModel):
    """Net revenue retention of a group: ARR (12 x MRR, from ingest's account history) at the
    window's end over ARR at its start, of the accounts present and not cancelled at the start,
    in the program's currency."""

    currency: str
    accounts: int = Field(description="Accounts counted: present at the start, in the currency")
    arr_start_minor: int
    arr_end_minor: int = Field(description="Their ARR at the end; 0 for an account cancelled")
    nrr: float | None = Field(description="arr_end / arr_start; null without ARR at the start")
    other_currency: int = Field(
        description="Accounts left out: in another currency at the start, or changed currency"
        " by the end (amounts in two currencies are not added up)"
    )


class GroupOut(BaseModel):
    """One group: its size, its accounts' first final renewal outcomes, rate and NRR."""

    accounts: int = Field(description="Accounts whose first decision put them in this group")
    in_both: int = Field(
        description="Of those, accounts a later decision of the other kind named too (counted"
        " here, in the group of their first decision)"
    )
    final_outcomes: int
    outcomes: dict[OutcomeKind, int]
    pending: int = Field(description="Accounts whose first renewal in the window is in its grace")
    no_outcome: int = Field(description="Accounts with no renewal in the window after decision")
    renewal_rate: float | None = Field(
        description="(renewed + expanded + contracted) / final outcomes; null without outcomes"
    )
    rate_interval: IntervalOut | None = Field(description="The rate's Wilson score interval")
    enough_data: bool = Field(
        description="At least 30 final outcomes, 5 renewing and 5 churned: otherwise the"
        " intervals mean little (and a warning says so)"
    )
    retention: RetentionOut


class CostsOut(BaseModel):
    """What the program's credits cost, by unit, from the ledger's reports over the program's
    whole life (the ledger reports by month: these are not cut to the window)."""

    granted: dict[str, int] = Field(description="Granted, net of reversed (revoked) grants")
    redeemed: dict[str, int] = Field(description="Applied to invoices, net of reversals")
    expired: dict[str, int] = Field(description="Expired unused (breakage)")


class SampleRatioOut(BaseModel):
    """Whether the groups are split as the holdout percent says: Pearson's chi-square goodness
    of fit of the held-out and treated accounts against the live version's holdout percent
    (one degree of freedom); a mismatch at p < 0.001 makes the comparison suspect."""

    treated: int = Field(description="Accounts in the treated group")
    holdout: int = Field(description="Accounts in the held-out group")
    target_holdout_share: float = Field(description="The holdout percent / 100")
    observed_holdout_share: float | None = Field(description="holdout / (treated + holdout)")
    chi_square: float | None = Field(
        description="The statistic; null when an expected count is under 5 (no test made)"
    )
    p_value: float | None = Field(description="P(chi-square(1) > statistic); null untested")
    mismatch: bool = Field(description="p_value < 0.001")


class ResultsOut(BaseModel):
    """Treated against held-out accounts at renewal: outcomes, the difference in renewal rate
    (treated - holdout) with its 95% interval, NRR per group, and what the credits cost."""

    program_id: str
    window_from: datetime = Field(description="Renewals from this instant")
    window_to: datetime = Field(description="Renewals before this instant")
    method: str = Field(description="How the interval of the difference is computed")
    confidence: float
    treated: GroupOut
    holdout: GroupOut
    difference: float | None = Field(description="Treated rate - holdout rate")
    interval: IntervalOut | None = Field(description="95% interval of the difference")
    costs: CostsOut
    sample_ratio: SampleRatioOut
    warnings: list[str]
