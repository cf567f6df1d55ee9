"""Simulation's fold, by known answers: a hand-built book of snapshots decided by a program,
every count, cost, percent and run-out date worked by hand in the comments."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.offers.domain.decisions import AccountView, PastOffer, decide
from services.offers.domain.programs import ProgramDefinition
from services.offers.domain.simulation import (
    Group,
    Simulation,
    SimulationResult,
    percent_of_arr,
    runs_out_on,
)
from services.offers.domain.triggers import account_context, compile_trigger, evaluate
from tests.offers_support import snapshot

NOW = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
PROGRAM = "sim"

# Renewal within 60 days: 1 % of ARR for silver, 3 % gold, 5 % platinum; a program budget of
# 500,000 and a gold budget of 300,000; a 30-day cooldown; no holdout.
DEFINITION = ProgramDefinition.model_validate(
    {
        "name": "Renewal, simulated",
        "owner": "owner",
        "trigger": "account.days_to_renewal != null && account.days_to_renewal <= 60",
        "reward": {
            "kind": "credit",
            "per_tier": {
                "silver": {"percent_of_arr": "1"},
                "gold": {"percent_of_arr": "3"},
                "platinum": {"percent_of_arr": "5"},
            },
        },
        "limits": {
            "cooldown_days": 30,
            "budget_minor": 500_000,
            "tier_budgets_minor": {"gold": 300_000},
        },
        "holdout_percent": 0,
    }
)


def book() -> list[dict[str, Any]]:
    """Nine accounts, in account id order (the order the service reads them in)."""

    def account(n: int, tier: str, arr: int, renewal: int, **changes: Any) -> dict[str, Any]:
        return snapshot(
            f"acct-{n:02d}", NOW, tier=tier, arr_minor=arr, days_to_renewal=renewal, **changes
        )

    return [
        account(1, "gold", 6_000_000, 30),
        account(2, "gold", 4_000_000, 10),
        account(3, "gold", 2_000_000, 50),
        account(4, "platinum", 3_100_000, 20),
        account(5, "platinum", 2_000_000, 40),
        account(6, "silver", 2_500_000, 5, segment="at_risk"),
        account(7, "silver", 2_000_000, 200),
        account(8, "silver", 2_000_000, 10, status="cancelled"),
        account(9, "silver", 1_000_000, 12),
    ]


# acct-09 had an offer of this program 10 days ago: cooling down for 20 more days.
HISTORY = {"acct-09": [PastOffer(PROGRAM, NOW - timedelta(days=10), 10_000, 0, "issued")]}


def simulate(
    definition: ProgramDefinition,
    snapshots: Sequence[dict[str, Any]],
    committed: Mapping[str, int],
    recent: Mapping[str, int],
    history: Mapping[str, list[PastOffer]] | None = None,
) -> SimulationResult:
    """Decide each snapshot as the service does and fold the verdicts."""
    trigger = compile_trigger(definition.trigger)
    simulation = Simulation(definition, committed, recent)
    for s in snapshots:
        account = AccountView.of(s)

        def matches(s: dict[str, Any] = s) -> tuple[bool, str]:
            result = evaluate(trigger, account_context(s, [trigger]))
            return result.matched, result.reason

        verdict = decide(
            PROGRAM, definition, account, matches, (history or {}).get(account.account_id, ()), NOW
        )
        simulation.add(account, verdict)
    return simulation.result(TODAY)


def test_known_book_with_committed_and_recent_spend() -> None:
    # The program budget holds 20,000 already; its offers of the last 30 days committed 15,000.
    result = simulate(DEFINITION, book(), {"program": 20_000}, {"program": 15_000}, HISTORY)
    # In account id order (program budget / gold budget after each):
    # 01 gold 3 % of 6,000,000 = 180,000: offered (200,000 / 180,000)
    # 02 gold 3 % of 4,000,000 = 120,000: offered (320,000 / 300,000: gold now full)
    # 03 gold 3 % of 2,000,000 =  60,000: budget_exhausted (gold), the program budget untouched
    # 04 platinum 5 % of 3,100,000 = 155,000: offered (475,000)
    # 05 platinum 5 % of 2,000,000 = 100,000: budget_exhausted (575,000 > 500,000)
    # 06 silver 1 % of 2,500,000 = 25,000: offered (500,000, exactly the cap), at_risk
    # 07 renewal in 200 days: trigger_false; 08 cancelled: not_eligible; 09 cooldown
    assert result.accounts == 9
    assert result.outcomes == {
        "not_eligible": 1,
        "trigger_false": 1,
        "holdout": 0,
        "cooldown": 1,
        "account_limit": 0,
        "arr_cap": 0,
        "budget_exhausted": 2,
        "offered": 4,
    }
    # 4 offers: 180,000 + 120,000 + 155,000 + 25,000 = 480,000 on ARR 6,000,000 + 4,000,000
    # + 3,100,000 + 2,500,000 = 15,600,000: 3.0769... % = 3.08 %.
    assert result.offered == Group(4, 480_000, 15_600_000)
    assert result.cost_percent_of_arr == Decimal("3.08")
    assert result.by_tier == {
        "silver": Group(1, 25_000, 2_500_000),
        "gold": Group(2, 300_000, 10_000_000),
        "platinum": Group(1, 155_000, 3_100_000),
    }
    assert result.by_segment["steady"] == Group(3, 455_000, 13_100_000)
    assert result.by_segment["at_risk"] == Group(1, 25_000, 2_500_000)
    assert sum(g.offers for g in result.by_segment.values()) == 4
    program, gold = result.budgets
    # Program: the simulated 480,000 are offered now on top of the 20,000 committed, which is
    # the whole cap of 500,000: it runs out today, whatever its recent pace.
    assert (program.scope, program.cap_minor, program.committed_minor) == (
        "program",
        500_000,
        20_000,
    )
    assert program.simulated_minor == 480_000
    assert (program.pace_basis, program.pace_minor) == ("recent_offers", 15_000)
    assert program.runs_out_on == TODAY
    # Gold: nothing committed and no recent spend, so the simulated 300,000 is the pace over
    # the next 30 days; all 300,000 left run out in ceil(300,000 x 30 / 300,000) = 30 days.
    assert (gold.scope, gold.committed_minor, gold.simulated_minor) == ("tier:gold", 0, 300_000)
    assert (gold.pace_basis, gold.pace_minor) == ("simulation", 300_000)
    assert gold.runs_out_on == date(2030, 3, 31)


def test_a_draft_spends_at_the_simulated_pace() -> None:
    # Nothing committed, nothing recent, no history (acct-09 is offered too): in order
    # 01 180,000, 02 120,000 (gold full), 03 refused by gold, 04 155,000 (455,000),
    # 05 100,000 refused (555,000), 06 25,000 (480,000), 09 silver 1 % of 1,000,000 = 10,000
    # (490,000).
    result = simulate(DEFINITION, book(), {}, {})
    assert result.outcomes["offered"] == 5
    assert result.outcomes["budget_exhausted"] == 2
    assert result.offered == Group(5, 490_000, 16_600_000)
    # 490,000 / 16,600,000 = 2.9518... % = 2.95 %.
    assert result.cost_percent_of_arr == Decimal("2.95")
    program = result.budgets[0]
    # 500,000 left at 490,000 per 30 days: ceil(15,000,000 / 490,000) = ceil(30.61) = 31 days
    # after 2030-03-01: 2030-04-01.
    assert (program.pace_basis, program.pace_minor) == ("simulation", 490_000)
    assert program.runs_out_on == date(2030, 4, 1)


def test_no_cap_no_forecast_and_no_offer_no_percent() -> None:
    uncapped = DEFINITION.model_copy(
        update={
            "limits": DEFINITION.limits.model_copy(
                update={"budget_minor": None, "tier_budgets_minor": {}}
            )
        }
    )
    # Without budgets every account the rules pass is offered: 01, 02, 03, 04, 05, 06.
    result = simulate(uncapped, book(), {}, {}, HISTORY)
    assert result.budgets == ()
    assert result.outcomes["offered"] == 6
    assert result.outcomes["budget_exhausted"] == 0
    # Nobody matches: no offer, no percent, the budgets forecast nothing.
    nobody = simulate(DEFINITION, [s for s in book() if s["days_to_renewal"] > 60], {}, {})
    assert nobody.offered == Group()
    assert nobody.cost_percent_of_arr is None
    assert [b.runs_out_on for b in nobody.budgets] == [None, None]
    assert [b.pace_basis for b in nobody.budgets] == [None, None]


def test_run_out_boundaries() -> None:
    # Nothing left: today, whatever the pace; nothing spent: never.
    assert runs_out_on(100, 100, 0, TODAY) == TODAY
    assert runs_out_on(100, 150, 10, TODAY) == TODAY
    assert runs_out_on(100, 0, 0, TODAY) is None
    # 100 left at 100 per 30 days: day 30; at 101 per 30 days: 29.7 days, so day 30 too;
    # at 3,000 per 30 days (100 a day): day 1.
    assert runs_out_on(100, 0, 100, TODAY) == TODAY + timedelta(days=30)
    assert runs_out_on(100, 0, 101, TODAY) == TODAY + timedelta(days=30)
    assert runs_out_on(100, 0, 3_000, TODAY) == TODAY + timedelta(days=1)
    # The largest cap at 1 per 30 days would run out 3 x 10^16 days on: past 9999, no date;
    # the calendar's last day itself still is one.
    assert runs_out_on(10**15, 0, 1, TODAY) is None
    last = (date.max - TODAY).days
    assert runs_out_on(last, 0, 30, TODAY) == date.max
    assert runs_out_on(last + 1, 0, 30, TODAY) is None


def test_percent_rounds_half_to_even() -> None:
    assert percent_of_arr(1, 800) == Decimal("0.12")  # 0.125
    assert percent_of_arr(3, 800) == Decimal("0.38")  # 0.375
    assert percent_of_arr(480_000, 16_000_000) == Decimal("3.00")
    assert percent_of_arr(5, 0) is None
