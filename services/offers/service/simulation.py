"""Simulating a program: its definition decided on every kept snapshot, as evaluation would
decide it, with nothing recorded.

The whole run is one read-only transaction on one snapshot of the database (so every page,
the budgets and the offer history agree with each other, and PostgreSQL itself refuses any
write): no lock is taken and none of the functions that record decisions, reserve budgets
or make offers is called. Budgets are applied to a copy, in account id order
(``domain.simulation``).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from functools import partial

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.offers.domain.decisions import AccountView, decide, history_lookback
from services.offers.domain.programs import ProgramDefinition
from services.offers.domain.simulation import PACE_WINDOW_DAYS, Simulation
from services.offers.domain.triggers import TriggerError, compile_trigger
from services.offers.models import Program
from services.offers.repository import budgets, history
from services.offers.repository import programs as programs_repo
from services.offers.repository import snapshots as snapshots_repo
from services.offers.schemas.simulation import SimulatedSource, SimulationOut
from services.offers.service.evaluation import PAGE, TriggerContext
from services.offers.service.programs import check_currency, check_trigger
from shared.db import read_only_snapshot
from shared.errors import Conflict, UnknownProgram


async def simulate(
    session: AsyncSession, program_id: str, edited: ProgramDefinition | None, now: datetime
) -> SimulationOut:
    """What the program (``edited``, else its pending version, else its live one) would do
    on every kept snapshot at ``now``, changing nothing."""
    if edited is not None:
        check_trigger(edited, pointer="/definition/trigger")
    await read_only_snapshot(session)
    program = await programs_repo.get_program(session, program_id)
    if program is None:
        raise UnknownProgram(f"No program has the id {program_id!r}.")
    source, version, definition = await definition_to_try(session, program, edited)
    trigger = compile_trigger(definition.trigger)
    simulation = Simulation(
        definition,
        committed=await budgets.committed(session, program_id),
        recent=await budgets.committed_since(
            session, program_id, now - timedelta(days=PACE_WINDOW_DAYS)
        ),
    )
    since = now - history_lookback([definition])
    after: str | None = None
    while page := await snapshots_repo.snapshot_page(session, after=after, limit=PAGE):
        accounts = [AccountView.of(s) for s in page]
        past = await history.past_offers(session, (a.account_id for a in accounts), since)
        for snapshot, account in zip(page, accounts, strict=True):
            matches = partial(TriggerContext(snapshot, [trigger]).matches, trigger)
            verdict = decide(
                program_id, definition, account, matches, past.get(account.account_id, ()), now
            )
            simulation.add(account, verdict)
        after = page[-1]["account_id"]
    return _out(program_id, source, version, definition, simulation, now)


async def definition_to_try(
    session: AsyncSession, program: Program, edited: ProgramDefinition | None
) -> tuple[SimulatedSource, int | None, ProgramDefinition]:
    """What a simulation or a dry run tries: ``edited`` (in the program's own currency),
    else the stored version ``stored_definition`` picks; with where it came from."""
    if edited is None:
        return await stored_definition(session, program)
    await check_currency(session, program, edited, "/definition/currency")
    return "edited", None, edited


async def stored_definition(
    session: AsyncSession, program: Program
) -> tuple[SimulatedSource, int, ProgramDefinition]:
    """The version awaiting approval if there is one, else the live one."""
    source: SimulatedSource = "pending"
    chosen = await programs_repo.get_version(session, program.id, program.latest_version)
    if chosen is None or chosen.state != "pending":
        source = "live"
        chosen = await programs_repo.get_version(session, program.id, program.live_version or 0)
    if chosen is None:
        raise Conflict(f"Program {program.id!r} has no version to simulate; give a definition.")
    try:
        definition = ProgramDefinition.model_validate(chosen.definition)
        compile_trigger(definition.trigger)
    except (ValidationError, TriggerError) as exc:
        # Saved under rules since tightened: it would not run live either.
        raise Conflict(
            f"Version {chosen.version} no longer reads ({exc}); simulate an edited definition."
        ) from exc
    return source, chosen.version, definition


def _out(
    program_id: str,
    source: SimulatedSource,
    version: int | None,
    definition: ProgramDefinition,
    simulation: Simulation,
    now: datetime,
) -> SimulationOut:
    result = simulation.result(now.date())
    program_budget = next((b for b in result.budgets if b.scope == "program"), None)
    return SimulationOut.model_validate(
        {
            "program_id": program_id,
            "simulated": source,
            "version": version,
            "currency": definition.currency,
            "simulated_at": now,
            "accounts": result.accounts,
            "outcomes": result.outcomes,
            "offers": result.offered.offers,
            "cost_minor": result.offered.cost_minor,
            "arr_minor": result.offered.arr_minor,
            "cost_percent_of_arr": result.cost_percent_of_arr,
            "by_tier": {t: asdict(g) for t, g in result.by_tier.items()},
            "by_segment": {s: asdict(g) for s, g in result.by_segment.items()},
            "budgets": [asdict(b) for b in result.budgets],
            "budget_runs_out_on": program_budget.runs_out_on if program_budget else None,
        }
    )
