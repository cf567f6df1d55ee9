"""A program's figures for the list of programs: offers by state, reserved and spent, and its
budgets run out by the simulation's own rule with nothing simulated."""

from __future__ import annotations

from datetime import date

from services.offers.domain.offers import OfferState
from services.offers.domain.program_summary import OFFER_STATES, StateTally, summarise
from services.offers.domain.programs import ProgramDefinition
from services.offers.domain.simulation import Simulation

TODAY = date(2030, 3, 1)
DEFINITION = ProgramDefinition.model_validate(
    {
        "name": "Renewal",
        "owner": "owner",
        "trigger": "account.days_to_renewal <= 60",
        "reward": {"kind": "credit", "amount": {"amount_minor": 10_000}},
        "limits": {"budget_minor": 1_000_000, "tier_budgets_minor": {"gold": 300_000}},
    }
)


def test_offers_split_into_reserved_and_spent_and_every_state_is_counted() -> None:
    tallies: dict[OfferState, StateTally] = {
        "pending_approval": StateTally(2, 20_000),
        "approved": StateTally(1, 10_000),
        "issued": StateTally(3, 30_000),
        "redeemed": StateTally(1, 7_000),
        "rejected": StateTally(4, 0),
    }
    summary = summarise(DEFINITION, {"program": 67_000}, {}, tallies, TODAY)
    assert summary.reserved_minor == 30_000
    assert summary.spent_minor == 37_000
    assert list(summary.offers_by_state) == list(OFFER_STATES)
    assert summary.offers_by_state["rejected"] == 4
    assert summary.offers_by_state["expired"] == 0


def test_the_run_out_date_is_the_simulations_with_nothing_simulated() -> None:
    committed = {"program": 400_000, "tier:gold": 100_000}
    recent = {"program": 60_000, "tier:gold": 30_000}
    summary = summarise(DEFINITION, committed, recent, {}, TODAY)
    same = Simulation(DEFINITION, committed=committed, recent=recent).result(TODAY).budgets
    assert summary.budgets == same
    # 600,000 left at 60,000 per 30 days: 300 days.
    assert summary.budget_runs_out_on == date(2030, 12, 26)
    gold = next(b for b in summary.budgets if b.scope == "tier:gold")
    assert gold.pace_basis == "recent_offers"
    assert gold.runs_out_on == date(2030, 3, 1).fromordinal(TODAY.toordinal() + 200)


def test_no_recent_spend_no_cap_or_no_readable_version_gives_no_date() -> None:
    quiet = summarise(DEFINITION, {"program": 10_000}, {}, {}, TODAY)
    assert quiet.budget_runs_out_on is None
    assert quiet.budgets[0].pace_basis is None
    uncapped = DEFINITION.model_copy(
        update={
            "limits": DEFINITION.limits.model_copy(
                update={"budget_minor": None, "tier_budgets_minor": {}}
            )
        }
    )
    assert summarise(uncapped, {}, {"program": 5}, {}, TODAY).budgets == ()
    unread = summarise(None, {"program": 5}, {"program": 5}, {}, TODAY)
    assert unread.budgets == ()
    assert unread.budget_runs_out_on is None
    full = summarise(DEFINITION, {"program": 1_000_000}, {}, {}, TODAY)
    assert full.budget_runs_out_on == TODAY  # nothing left: today
