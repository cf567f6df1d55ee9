"""The approvals inbox: offers and program versions awaiting approval, oldest first, each
with what the caller may do about it and why not.

Each page is read in a fixed number of queries, whatever its length: the rows, then one
batch each for the approvals, decisions' reasons, programs' statuses, program versions'
definitions and budgets of everything on it. Who may approve is the domain's rule
(``domain.approvals``), asked per row in Python, never restated in SQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.offers.domain.approvals import (
    budget_left,
    changed_fields,
    offer_verdict,
    version_refusal,
)
from services.offers.domain.decisions import PROGRAM_BUDGET
from services.offers.domain.programs import ProgramDefinition
from services.offers.models import Offer, Program, ProgramVersion
from services.offers.repository import budgets
from services.offers.repository import offers as offers_repo
from services.offers.repository import programs as programs_repo
from services.offers.schemas.approvals import PendingOffer, PendingVersion
from services.offers.schemas.offers import ApprovalOut, OfferOut
from services.offers.schemas.programs import VersionOut
from services.offers.service.offers import approval_needs
from shared.auth import Principal
from shared.pagination import Page, PageRequest

OfferPosition = tuple[datetime, uuid.UUID]  # (created_at, id), oldest first
VersionPosition = tuple[datetime, str, int]  # (created_at, program id, version), oldest first


# With ``mine``, how many pending offers one page looks through (in batches) for those the
# caller may approve, so a long backlog of others' offers neither hides theirs nor makes
# one request unbounded.
MINE_LOOKS_THROUGH = 5_000
_MINE_BATCH = 500


async def pending_offers(
    session: AsyncSession,
    principal: Principal,
    mine: bool,
    page: PageRequest[OfferPosition],
    now: datetime,
    *,
    program_id: str | None = None,
) -> Page[PendingOffer]:
    """Offers awaiting approval, oldest first, each with its approvals, open slots, the
    decision's reason, the account's colour, its program's budget left and whether
    ``principal`` may approve it now (the slot, or why not).

    With ``mine`` only those ``principal`` may approve now: up to ``limit`` of them, found
    by looking through at most ``MINE_LOOKS_THROUGH`` pending offers; ``next_cursor``
    continues after the last one looked at, so a page may hold fewer items than ``limit``
    (even none) and still have one. The list ends when ``next_cursor`` is null.
    """
    if mine:
        return await _pending_mine(session, principal, page, now, program_id)
    rows = await offers_repo.list_pending(
        session, after=page.after, limit=page.limit + 1, program_id=program_id
    )
    shown = await _pending_items(session, principal, rows[: page.limit], now)
    return page.page(rows, lambda o: shown[o.id], _offer_position)


def _offer_position(offer: Offer) -> OfferPosition:
    return (offer.created_at, offer.id)


async def _pending_mine(
    session: AsyncSession,
    principal: Principal,
    page: PageRequest[OfferPosition],
    now: datetime,
    program_id: str | None,
) -> Page[PendingOffer]:
    chosen: list[uuid.UUID] = []
    after, looked, more = page.after, 0, True
    while more and len(chosen) < page.limit and looked < MINE_LOOKS_THROUGH:
        rows = await offers_repo.pending_approvers(
            session, after=after, limit=_MINE_BATCH + 1, program_id=program_id
        )
        batch = rows[:_MINE_BATCH]
        approvals = await offers_repo.approvals_of_offers(session, [r.id for r in batch])
        statuses = await offers_repo.program_statuses(session, {r.program_id for r in batch})
        more = len(rows) > _MINE_BATCH
        for n, row in enumerate(batch, start=1):
            looked += 1
            after = (row.created_at, row.id)
            needs = approval_needs(row, approvals.get(row.id, []))
            archived = statuses.get(row.program_id) == "archived"
            if offer_verdict(needs, principal.name, principal.scopes, archived).may_approve:
                chosen.append(row.id)
            if len(chosen) == page.limit or looked == MINE_LOOKS_THROUGH:
                more = more or n < len(batch)
                break
    found = await offers_repo.offers_by_id(session, chosen)
    # An offer decided between the two reads is no longer pending: it is left out.
    offers = [found[i] for i in chosen if i in found and found[i].state == "pending_approval"]
    shown = await _pending_items(session, principal, offers, now)
    return Page(
        items=[shown[o.id] for o in offers],
        next_cursor=page.cursor(after) if more and after is not None else None,
    )


async def _pending_items(
    session: AsyncSession, principal: Principal, offers: Sequence[Offer], now: datetime
) -> dict[uuid.UUID, PendingOffer]:
    """Each offer as the inbox shows it, by id, in a fixed number of queries."""
    program_ids = {o.program_id for o in offers}
    approvals = await offers_repo.approvals_of_offers(session, [o.id for o in offers])
    reasons = await offers_repo.decision_reasons(session, {o.decision_id for o in offers})
    statuses = await offers_repo.program_statuses(session, program_ids)
    documents = await programs_repo.definitions(
        session, {(o.program_id, o.program_version) for o in offers}
    )
    definitions = {k: ProgramDefinition.model_validate(d) for k, d in documents.items()}
    committed = await budgets.committed_in(session, program_ids, PROGRAM_BUDGET)

    def item(offer: Offer) -> PendingOffer:
        given = approvals.get(offer.id, [])
        needs = approval_needs(offer, given)
        archived = statuses.get(offer.program_id) == "archived"
        verdict = offer_verdict(needs, principal.name, principal.scopes, archived)
        definition = definitions.get((offer.program_id, offer.program_version))
        colour = offer.snapshot.get("colour")
        return PendingOffer(
            offer=OfferOut.model_validate(offer),
            approvals=[ApprovalOut.model_validate(a) for a in given],
            open_slots=list(needs.open_slots()),
            may_approve=verdict.may_approve,
            slot=verdict.slot,
            why_not=verdict.why_not,
            reason=reasons.get(offer.decision_id),
            health_colour=colour,
            account_name=offer.snapshot.get("name"),
            program_name=None if definition is None else definition.name,
            budget_left_minor=(
                None
                if definition is None
                else budget_left(definition, committed.get(offer.program_id, 0))
            ),
            age_seconds=max(0, int((now - offer.created_at).total_seconds())),
        )

    return {o.id: item(o) for o in offers}


async def pending_versions(
    session: AsyncSession, principal: Principal, page: PageRequest[VersionPosition]
) -> Page[PendingVersion]:
    """Program versions awaiting approval to go live, oldest first, each with what it
    changes from the live version and whether ``principal`` may approve it (or why not)."""
    rows = await programs_repo.list_pending_versions(
        session, after=page.after, limit=page.limit + 1
    )
    live_documents = await programs_repo.definitions(
        session,
        {(p.id, p.live_version) for _v, p in rows[: page.limit] if p.live_version is not None},
    )

    def item(row: tuple[ProgramVersion, Program]) -> PendingVersion:
        version, program = row
        definition = ProgramDefinition.model_validate(version.definition)
        live_document = (
            None
            if program.live_version is None
            else live_documents.get((program.id, program.live_version))
        )
        live = None if live_document is None else ProgramDefinition.model_validate(live_document)
        refusal = version_refusal(
            principal.name,
            principal.scopes,
            version.created_by,
            definition.owner,
            None if live is None else live.owner,
            program.status == "archived",
        )
        return PendingVersion(
            program_id=program.id,
            version=VersionOut.model_validate(version),
            live_version=program.live_version,
            may_approve=refusal is None,
            why_not=refusal,
            changed=changed_fields(definition, live),
        )

    return page.page(rows, item, lambda r: (r[0].created_at, r[0].program_id, r[0].version))
