"""Evaluating every live program for accounts: decisions for all, offers where they fit.

A batch of snapshots is decided in two passes. The first applies the pure rules to every
(account, program) pair with the accounts' offer history read once; almost every pair ends
there (not eligible, trigger false, holdout, a limit) and is recorded by COPY. The few that
would be offered are decided again under each account's lock, with the history read again
and counting the offers this batch makes, and then reserve their budgets: a reservation that
does not fit records ``budget_exhausted`` and offers nothing.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.offers.domain.decisions import (
    AccountView,
    DecisionOutcome,
    PastOffer,
    Verdict,
    decide,
    history_lookback,
    limit_problem,
)
from services.offers.domain.programs import CreditReward, ProgramDefinition
from services.offers.domain.triggers import (
    AccountContext,
    Trigger,
    TriggerError,
    account_context,
    compile_trigger,
)
from services.offers.domain.triggers import evaluate as evaluate_trigger
from services.offers.models import Outbox
from services.offers.repository import budgets, decisions, history
from services.offers.repository import offers as offers_repo
from services.offers.repository import programs as programs_repo
from services.offers.repository import snapshots as snapshots_repo
from services.offers.repository.offers import NewOffer
from services.offers.schemas.decisions import EvaluationOut
from services.offers.service.offers import LEDGER, approval_steps, event
from shared.contracts import GRANT_REQUESTED
from shared.db import unit_of_work
from shared.outbox import enqueue_many

_log = structlog.get_logger("tenure.offers")
# Who approves an offer the program's policy approves by itself.
AUTO_APPROVER = "policy:auto"
PAGE = 1_000


@dataclass(frozen=True)
class LiveProgram:
    """A program's live version, compiled once."""

    program_id: str
    version: int
    definition: ProgramDefinition
    trigger: Trigger


@dataclass
class Summary:
    """What one evaluation run decided."""

    accounts: int = 0
    evaluations: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    offer_ids: list[uuid.UUID] = field(default_factory=list)
    unscored_account_ids: list[str] = field(default_factory=list)

    def add(self, other: Summary) -> None:
        """Fold another run's counts into this one."""
        self.accounts += other.accounts
        self.evaluations += other.evaluations
        self.outcomes.update(other.outcomes)
        self.offer_ids += other.offer_ids
        self.unscored_account_ids += other.unscored_account_ids


class CompiledPrograms:
    """Compiled live versions by (program id, version): a version never changes, so what
    was compiled once is good for the life of the process."""

    def __init__(self) -> None:
        self._compiled: dict[tuple[str, int], LiveProgram | None] = {}

    async def live(self, session: AsyncSession) -> list[LiveProgram]:
        """The live version of every active program, in program id order. A version that
        no longer reads (saved under rules since tightened) is left out and logged once,
        rather than failing every evaluation of every account."""
        live = []
        for program_id, version, definition in await programs_repo.live_versions(session):
            key = (program_id, version)
            if key not in self._compiled:
                self._compiled[key] = _compiled(program_id, version, definition)
            compiled = self._compiled[key]
            if compiled is not None:
                live.append(compiled)
        return live


def _compiled(program_id: str, version: int, definition: dict[str, Any]) -> LiveProgram | None:
    try:
        parsed = ProgramDefinition.model_validate(definition)
        return LiveProgram(program_id, version, parsed, compile_trigger(parsed.trigger))
    except (ValidationError, TriggerError) as exc:
        _log.error(
            "live_program_unreadable", program_id=program_id, version=version, error=str(exc)
        )
        return None


PROGRAMS = CompiledPrograms()


@dataclass(frozen=True)
class _Candidate:
    snapshot: Mapping[str, Any]
    account: AccountView
    program: LiveProgram
    verdict: Verdict


class TriggerContext:
    """One account's CEL context, built when the first trigger needs it and shared by the
    rest (building it costs more than evaluating a trigger)."""

    def __init__(self, snapshot: Mapping[str, Any], triggers: Sequence[Trigger]) -> None:
        self._snapshot = snapshot
        self._triggers = triggers
        self._context: AccountContext | None = None

    def matches(self, trigger: Trigger) -> tuple[bool, str]:
        """Whether the trigger matches the account, and why (not)."""
        if self._context is None:
            # Only the fields the live triggers read are converted.
            self._context = account_context(self._snapshot, self._triggers)
        result = evaluate_trigger(trigger, self._context)
        return result.matched, result.reason


async def evaluate_snapshots(
    session: AsyncSession, snapshots: Sequence[Mapping[str, Any]], proposer: str, now: datetime
) -> Summary:
    """Decide every live program for each snapshot (``Snapshot`` in its JSON form), record
    every decision and propose the offers that pass, within the caller's transaction."""
    summary = Summary(accounts=len(snapshots))
    programs = await PROGRAMS.live(session)
    if not programs or not snapshots:
        return summary
    since = now - history_lookback(p.definition for p in programs)
    accounts = [AccountView.of(s) for s in snapshots]
    past = await history.past_offers(session, (a.account_id for a in accounts), since)
    records: list[decisions.DecisionRecord] = []
    candidates: list[_Candidate] = []
    live_triggers = [p.trigger for p in programs]
    for snapshot, account in zip(snapshots, accounts, strict=True):
        computed_at = datetime.fromisoformat(snapshot["computed_at"])
        triggers = TriggerContext(snapshot, live_triggers)
        for program in programs:
            verdict = decide(
                program.program_id,
                program.definition,
                account,
                partial(triggers.matches, program.trigger),
                past.get(account.account_id, ()),
                now,
            )
            if verdict.outcome == "offered":
                candidates.append(_Candidate(snapshot, account, program, verdict))
                continue
            records.append(
                _record(
                    None, now, account, program, verdict.outcome, verdict.reason, None, computed_at
                )
            )
    summary.evaluations = len(snapshots) * len(programs)
    if candidates:
        records += await _propose(session, candidates, proposer, since, now, summary)
    await decisions.record(session, records)
    summary.outcomes.update(r[5] for r in records)
    return summary


def _record(
    decision_id: int | None,
    now: datetime,
    account: AccountView,
    program: LiveProgram,
    outcome: DecisionOutcome,
    reason: str,
    offer_id: uuid.UUID | None,
    computed_at: datetime,
) -> decisions.DecisionRecord:
    return (
        decision_id,
        now,
        account.account_id,
        program.program_id,
        program.version,
        outcome,
        reason,
        offer_id,
        computed_at,
    )


async def _propose(
    session: AsyncSession,
    candidates: list[_Candidate],
    proposer: str,
    since: datetime,
    now: datetime,
    summary: Summary,
) -> list[decisions.DecisionRecord]:
    """Decide the would-be offers again under their accounts' locks, reserve budgets, and
    make the offers; returns their decisions."""
    await history.lock_accounts(session, (c.account.account_id for c in candidates))
    past = await history.past_offers(session, (c.account.account_id for c in candidates), since)
    # Budgets are locked in program order (and within a program in scope order) everywhere.
    candidates.sort(key=lambda c: (c.program.program_id, c.account.account_id))
    ids = await decisions.reserve_ids(session, len(candidates))
    records: list[decisions.DecisionRecord] = []
    made: list[NewOffer] = []
    for candidate, decision_id in zip(candidates, ids, strict=True):
        account, program, verdict = candidate.account, candidate.program, candidate.verdict
        computed_at = datetime.fromisoformat(candidate.snapshot["computed_at"])
        value = verdict.value_minor
        assert value is not None
        account_past = past.setdefault(account.account_id, [])
        limited = limit_problem(
            program.program_id, program.definition, account_past, value, account.arr_minor, now
        )
        if limited is not None:
            records.append(_record(decision_id, now, account, program, *limited, None, computed_at))
            continue
        full = await _reserve_all(session, program.program_id, verdict.budget_scopes, value)
        if full is not None:
            records.append(
                _record(
                    decision_id, now, account, program, "budget_exhausted", full, None, computed_at
                )
            )
            continue
        offer = _offer(candidate, decision_id, proposer, now)
        made.append(offer)
        account_past.append(PastOffer(program.program_id, now, value, 0, "pending_approval"))
        records.append(
            _record(
                decision_id, now, account, program, "offered", verdict.reason, offer.id, computed_at
            )
        )
    if made:
        await _make(session, made, proposer, now)
        summary.offer_ids += [o.id for o in made]
    return records


async def _make(session: AsyncSession, made: list[NewOffer], proposer: str, now: datetime) -> None:
    """Store new offers with their first steps: proposed, and approved (and issued, or a
    grant asked of the ledger) for those the policy approves by itself."""
    steps = [
        event(
            o,
            "proposed",
            proposer,
            now,
            detail={"decision_id": o.decision_id, "value_minor": o.value_minor},
        )
        for o in made
    ]
    grants = []
    for offer in made:
        if offer.approvals_required == 0:
            approved, grant = approval_steps(offer, AUTO_APPROVER, now)
            steps += approved
            if grant is not None:
                grants.append(grant)
    await offers_repo.insert_new_offers(session, made)
    await offers_repo.add_events(session, steps)
    await enqueue_many(session, Outbox, LEDGER, GRANT_REQUESTED, grants)


async def _reserve_all(
    session: AsyncSession, program_id: str, scopes: Sequence[tuple[str, int]], value: int
) -> str | None:
    """Reserve ``value`` against every budget, or none: the reason when one is full."""
    taken: list[str] = []
    for scope, cap in scopes:
        if not await budgets.reserve(session, program_id, scope, value, cap):
            await budgets.release(session, program_id, taken, value)
            return f"the {scope} budget of {cap} has no room for {value}"
        taken.append(scope)
    return None


def _offer(candidate: _Candidate, decision_id: int, proposer: str, now: datetime) -> NewOffer:
    definition = candidate.program.definition
    value = candidate.verdict.value_minor
    assert value is not None
    required, finance = definition.approval.approvals_needed(value)
    reward = definition.reward
    return NewOffer(
        id=uuid.uuid4(),
        account_id=candidate.account.account_id,
        program_id=candidate.program.program_id,
        program_version=candidate.program.version,
        decision_id=decision_id,
        state="pending_approval",
        reward=reward.model_dump(mode="json"),
        value_minor=value,
        currency=definition.currency,
        tier=candidate.account.tier,
        arr_minor=candidate.account.arr_minor,
        approvals_required=required,
        finance_required=finance,
        budget_scopes=[scope for scope, _cap in candidate.verdict.budget_scopes],
        credit_expires_after=(reward.expires_after if isinstance(reward, CreditReward) else None),
        proposed_by=proposer,
        owner=definition.owner,
        snapshot=dict(candidate.snapshot),
        created_at=now,
        updated_at=now,
    )


async def evaluate_accounts(
    session: AsyncSession, account_ids: Sequence[str], proposer: str, now: datetime
) -> Summary:
    """Evaluate the kept snapshots of these accounts (those never scored are listed)."""
    kept = await snapshots_repo.snapshots_of(session, account_ids)
    summary = await evaluate_snapshots(session, kept, proposer, now)
    found = {s["account_id"] for s in kept}
    summary.unscored_account_ids = sorted(set(account_ids) - found)
    return summary


async def evaluate_everyone(
    factory: async_sessionmaker[AsyncSession], proposer: str, now: datetime
) -> Summary:
    """Evaluate every kept snapshot, a page of accounts per transaction (a run over the
    whole book holds no lock and no budget row for longer than a page)."""
    summary = Summary()
    after: str | None = None
    while True:
        async with unit_of_work(factory) as session:
            page = await snapshots_repo.snapshot_page(session, after=after, limit=PAGE)
            if not page:
                return summary
            summary.add(await evaluate_snapshots(session, page, proposer, now))
        after = page[-1]["account_id"]


async def evaluate(
    factory: async_sessionmaker[AsyncSession],
    account_ids: Sequence[str] | None,
    proposer: str,
    now: datetime,
) -> EvaluationOut:
    """``POST /v1/evaluate``: these accounts in one transaction, or everyone page by page."""
    if account_ids is None:
        summary = await evaluate_everyone(factory, proposer, now)
    else:
        async with unit_of_work(factory) as session:
            summary = await evaluate_accounts(session, account_ids, proposer, now)
    return EvaluationOut.model_validate(
        {
            "accounts": summary.accounts,
            "evaluations": summary.evaluations,
            "outcomes": dict(summary.outcomes),
            "offer_ids": summary.offer_ids,
            "unscored_account_ids": summary.unscored_account_ids,
        }
    )
