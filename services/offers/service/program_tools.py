"""The programs' read-only tools: every program's figures in one page, a trigger checked on
its own, and one account decided as evaluation would, recording nothing.

Each reads in one read-only transaction (``read_only_snapshot``): PostgreSQL itself refuses
a write, and the figures agree with each other.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from functools import partial
from typing import Any, cast

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.offers.domain.decisions import AccountView, decide, fits, history_lookback
from services.offers.domain.offers import OfferState
from services.offers.domain.program_summary import StateTally, summarise
from services.offers.domain.programs import ProgramDefinition
from services.offers.domain.simulation import PACE_WINDOW_DAYS
from services.offers.domain.triggers import TriggerError, compile_trigger
from services.offers.models import ProgramVersion
from services.offers.repository import history, summaries
from services.offers.repository import programs as programs_repo
from services.offers.repository import snapshots as snapshots_repo
from services.offers.schemas.program_tools import (
    CheckTriggerOut,
    DryRunBudget,
    DryRunOut,
    ProgramSummaryOut,
    TriggerProblemOut,
)
from services.offers.schemas.simulation import BudgetOut
from services.offers.service.evaluation import TriggerContext
from services.offers.service.programs import ProgramPosition
from services.offers.service.simulation import trial_of
from shared.db import read_only_snapshot
from shared.errors import UnknownAccount
from shared.pagination import Page, PageRequest


def check_trigger_text(trigger: str) -> CheckTriggerOut:
    """Whether ``trigger`` compiles and checks as a saved program's would, with each problem
    where it is."""
    try:
        compile_trigger(trigger)
    except TriggerError as exc:
        return CheckTriggerOut(
            ok=False, problems=[TriggerProblemOut(**asdict(p)) for p in exc.problems]
        )
    return CheckTriggerOut(ok=True, problems=[])


def _readable(version: ProgramVersion | None) -> ProgramDefinition | None:
    """A version's definition, or None when it no longer reads under today's rules."""
    if version is None:
        return None
    try:
        return ProgramDefinition.model_validate(version.definition)
    except ValidationError:
        return None


async def summaries_page(
    session: AsyncSession, page: PageRequest[ProgramPosition], now: datetime
) -> Page[ProgramSummaryOut]:
    """A page of programs by id with their figures, in a fixed number of queries."""
    await read_only_snapshot(session)
    rows = list(
        await programs_repo.list_programs(
            session, status=None, after=page.after[0] if page.after else None, limit=page.limit + 1
        )
    )
    shown = rows[: page.limit]
    ids = [p.id for p in shown]
    versions = await programs_repo.shown_versions(session, shown)
    committed = await summaries.committed_of(session, ids)
    recent = await summaries.committed_since_of(
        session, ids, now - timedelta(days=PACE_WINDOW_DAYS)
    )
    states = await summaries.offers_by_state(session, ids)
    out: dict[str, ProgramSummaryOut] = {}
    for program in shown:
        live = versions.get((program.id, program.live_version or 0))
        latest = versions.get((program.id, program.latest_version))
        pending = latest if latest is not None and latest.state == "pending" else None
        definition = _readable(live) or _readable(latest)
        tallies = {
            cast(OfferState, s): StateTally(count, held)
            for s, (count, held) in states.get(program.id, {}).items()
        }
        figures = summarise(
            definition,
            committed.get(program.id, {}),
            recent.get(program.id, {}),
            tallies,
            now.date(),
        )
        program_budget = next((b for b in figures.budgets if b.scope == "program"), None)
        out[program.id] = ProgramSummaryOut(
            id=program.id,
            status=cast(Any, program.status),
            name=definition.name if definition else None,
            owner=definition.owner if definition else None,
            currency=definition.currency if definition else None,
            live_version=program.live_version,
            pending_version=pending.version if pending else None,
            latest_version=program.latest_version,
            offers_by_state=figures.offers_by_state,
            reserved_minor=figures.reserved_minor,
            spent_minor=figures.spent_minor,
            budget_cap_minor=program_budget.cap_minor if program_budget else None,
            committed_minor=committed.get(program.id, {}).get("program", 0),
            budgets=[BudgetOut(**asdict(b)) for b in figures.budgets],
            budget_runs_out_on=figures.budget_runs_out_on,
        )
    return page.page(rows, lambda r: out[r.id], lambda r: (r.id,))


async def dry_run(
    session: AsyncSession,
    program_id: str | None,
    account_id: str,
    edited: ProgramDefinition | None,
    now: datetime,
) -> DryRunOut:
    """What the program (``edited``, else its pending version, else its live one; or an
    unsaved ``edited`` definition when ``program_id`` is None) would decide for one account's
    kept snapshot now, with the same rules evaluation applies and its budgets as they stand;
    nothing is recorded, reserved or offered."""
    await read_only_snapshot(session)
    trial = await trial_of(session, program_id, edited)
    definition = trial.definition
    kept = await snapshots_repo.get_snapshot(session, account_id)
    if kept is None:
        raise UnknownAccount.for_field(
            "/account_id", f"Offers has no snapshot of the account {account_id!r}."
        )
    snapshot = kept.snapshot
    account = AccountView.of(snapshot)
    trigger = compile_trigger(definition.trigger)
    since = now - history_lookback([definition])
    past = await history.past_offers(session, [account_id], since)
    matches = partial(TriggerContext(snapshot, [trigger]).matches, trigger)
    verdict = decide(trial.deciding_id, definition, account, matches, past.get(account_id, ()), now)
    outcome, reason = verdict.outcome, verdict.reason
    reserved: list[DryRunBudget] = []
    approvals: tuple[int, bool] | None = None
    if outcome == "offered" and verdict.value_minor is not None:
        held = trial.committed
        reserved = [
            DryRunBudget(
                scope=scope,
                cap_minor=cap,
                committed_minor=held.get(scope, 0),
                fits=fits(held.get(scope, 0), verdict.value_minor, cap),
            )
            for scope, cap in verdict.budget_scopes
        ]
        full = [b.scope for b in reserved if not b.fits]
        if full:
            # As a reservation would record it: the budget, not the rules, said no.
            outcome, reason = "budget_exhausted", f"no room left in budget {', '.join(full)}"
        approvals = definition.approval.approvals_needed(verdict.value_minor)
    return DryRunOut(
        program_id=trial.program_id,
        account_id=account_id,
        simulated=trial.source,
        version=trial.version,
        outcome=outcome,
        reason=reason,
        value_minor=verdict.value_minor,
        currency=definition.currency,
        approvals_required=approvals[0] if approvals else None,
        finance_required=approvals[1] if approvals else None,
        budgets=reserved,
    )
