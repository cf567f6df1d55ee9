"""Simulating a program: its definition decided on every kept snapshot, as evaluation would
decide it, with nothing recorded.

The whole run is one read-only transaction on one snapshot of the database (so every page,
the budgets and the offer history agree with each other, and PostgreSQL itself refuses any
write): no lock is taken and none of the functions that record decisions, reserve budgets
or make offers is called. Budgets are applied to a copy, in account id order
(``domain.simulation``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
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

# An unsaved definition has no program id yet; its holdout is drawn with this stand-in, so
# which accounts fall in the holdout differs from the saved program's, though not (in
# expectation) how many.
UNSAVED_PROGRAM_ID = "unsaved"


@dataclass(frozen=True)
class Trial:
    """What a simulation or a dry run decides: a definition, where it came from, and the
    program it belongs to (None for one not saved yet, which has committed nothing)."""

    program_id: str | None
    source: SimulatedSource
    version: int | None
    definition: ProgramDefinition
    committed: dict[str, int] = field(default_factory=dict)

    @property
    def deciding_id(self) -> str:
        """The id the definition is decided under (holdout draw, the program's own limits)."""
        return self.program_id or UNSAVED_PROGRAM_ID


async def trial_of(
    session: AsyncSession, program_id: str | None, edited: ProgramDefinition | None
) -> Trial:
    """The trial a simulation or dry run makes: ``edited`` for a program not saved yet
    (``program_id`` None), else ``definition_to_try`` of the program; a 404 for an unknown
    program. Call it inside the read-only snapshot."""
    if edited is not None:
        check_trigger(edited, pointer="/definition/trigger")
    if program_id is None:
        if edited is None:
            raise Conflict("A program not saved yet is simulated from a definition; give one.")
        return Trial(None, "edited", None, edited)
    program = await programs_repo.get_program(session, program_id)
    if program is None:
        raise UnknownProgram(f"No program has the id {program_id!r}.")
    source, version, definition = await definition_to_try(session, program, edited)
    committed = await budgets.committed(session, program_id)
    return Trial(program_id, source, version, definition, committed)


async def simulate(
    session: AsyncSession,
    program_id: str | None,
    edited: ProgramDefinition | None,
    now: datetime,
) -> SimulationOut:
    """What the program (``edited``, else its pending version, else its live one; or an
    unsaved ``edited`` definition when ``program_id`` is None) would do on every kept
    snapshot at ``now``, changing nothing."""
    await read_only_snapshot(session)
    trial = await trial_of(session, program_id, edited)
    definition = trial.definition
    trigger = compile_trigger(definition.trigger)
    since_pace = now - timedelta(days=PACE_WINDOW_DAYS)
    simulation = Simulation(
        definition,
        committed=trial.committed,
        recent=await budgets.committed_since(session, program_id, since_pace) if program_id else {},
    )
    since = now - history_lookback([definition])
    after: str | None = None
    while page := await snapshots_repo.snapshot_page(session, after=after, limit=PAGE):
        accounts = [AccountView.of(s) for s in page]
        past = await history.past_offers(session, (a.account_id for a in accounts), since)
        for snapshot, account in zip(page, accounts, strict=True):
            matches = partial(TriggerContext(snapshot, [trigger]).matches, trigger)
            history_of = past.get(account.account_id, ())
            verdict = decide(trial.deciding_id, definition, account, matches, history_of, now)
            simulation.add(account, verdict)
        after = page[-1]["account_id"]
    return _out(trial, simulation, now)


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


def _out(trial: Trial, simulation: Simulation, now: datetime) -> SimulationOut:
    result = simulation.result(now.date())
    program_budget = next((b for b in result.budgets if b.scope == "program"), None)
    return SimulationOut.model_validate(
        {
            "program_id": trial.program_id,
            "simulated": trial.source,
            "version": trial.version,
            "currency": trial.definition.currency,
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
