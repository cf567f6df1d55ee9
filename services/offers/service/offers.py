"""An offer's life after its proposal: approvals, rejection, revocation, and how it reads.

Every change locks the offer's row first (``FOR UPDATE``), so concurrent approvals, a revoke
and the ledger's reports about one offer take turns, and writes an ``OfferEvent`` with who,
when and why. Messages to the ledger are enqueued in the same unit of work.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy.ext.asyncio import AsyncSession

from services.offers.domain.approvals import ARCHIVED_PROGRAM
from services.offers.domain.offers import (
    ApprovalNeeds,
    ApprovalRefused,
    ApprovalSlot,
    IllegalMove,
    OfferState,
    RewardKind,
    check_may_reject,
    check_move,
    releasable,
    revoke_asks_ledger,
    slot_for,
)
from services.offers.models import Approval, Offer, Outbox
from services.offers.repository import budgets
from services.offers.repository import offers as repo
from services.offers.repository.offers import NewOffer, OfferFilters
from services.offers.schemas.decisions import DecisionOut
from services.offers.schemas.offers import (
    ApprovalOut,
    LedgerTransactionOut,
    OfferEventOut,
    OfferOut,
    OfferTrace,
)
from shared.auth import Principal
from shared.contracts import (
    GRANT_REQUESTED,
    REVOKE_REQUESTED,
    GrantRequested,
    RevokeRequested,
    Tier,
)
from shared.errors import ApprovalForbidden, IllegalTransition, UnknownOffer
from shared.outbox import enqueue
from shared.pagination import Page, PageRequest

LEDGER = "ledger"  # the outbox destination, and the principal of what the ledger reports
LEDGER_EVENT_PREFIX = "ledger_"  # events of ledger movements: ledger_grant, ledger_expiry...
Position = tuple[datetime, uuid.UUID]  # (created_at, id), newest first


# An offer stored, or one being made (written once its first steps are known).
OfferLike = Offer | NewOffer


def reward_kind(offer: OfferLike) -> RewardKind:
    """What the offer gives: a credit (through the ledger), a discount or a perk."""
    return cast(RewardKind, offer.reward["kind"])


def event(
    offer: OfferLike,
    name: str,
    principal: str,
    at: datetime,
    comment: str | None = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One step of the offer's story, with its state after the step."""
    return {
        "offer_id": offer.id,
        "at": at,
        "event": name,
        "state": offer.state,
        "principal": principal,
        "comment": comment,
        "detail": detail or {},
    }


def move(offer: OfferLike, to: OfferState, at: datetime) -> None:
    """Put the offer in state ``to``, or a 409 when its state does not allow it."""
    try:
        check_move(cast(OfferState, offer.state), to)
    except IllegalMove as exc:
        raise IllegalTransition(f"Offer {offer.id}: {exc}.") from exc
    offer.state = to
    offer.updated_at = at


async def release(session: AsyncSession, offer: Offer, amount: int) -> int:
    """Give up to ``amount`` of the offer's reservation back to its budgets; what was given."""
    given = releasable(offer.value_minor, offer.released_minor, amount)
    await budgets.release(session, offer.program_id, list(offer.budget_scopes), given)
    offer.released_minor += given
    return given


async def recommit_spent(session: AsyncSession, offer: Offer) -> int:
    """Commit again what was released of an offer and then spent after all (a redemption
    the ledger made before it heard of a revoke): what is redeemed is never free budget."""
    over = offer.released_minor - max(0, offer.value_minor - offer.redeemed_minor)
    if over <= 0:
        return 0
    await budgets.release(session, offer.program_id, list(offer.budget_scopes), -over)
    offer.released_minor -= over
    return over


async def _locked(session: AsyncSession, offer_id: uuid.UUID) -> Offer:
    offer = await repo.lock_offer(session, offer_id)
    if offer is None:
        raise UnknownOffer(f"There is no offer {offer_id}.")
    return offer


class Approvable(Protocol):
    """What of an offer its approval turns on (an ``Offer``, or a row of just these)."""

    approvals_required: int
    finance_required: bool
    owner: str
    proposed_by: str


def approval_needs(offer: Approvable, approvals: list[Approval]) -> ApprovalNeeds:
    """What an offer needs and has, for the approval rules (``domain.offers``)."""
    filled = {cast(ApprovalSlot, a.slot): a.principal for a in approvals}
    return ApprovalNeeds(
        approvals_required=offer.approvals_required,
        finance_required=offer.finance_required,
        filled=filled,
        owner=offer.owner,
        proposed_by=offer.proposed_by,
    )


def _awaiting_approval(offer: Offer, done: str) -> None:
    if offer.state != "pending_approval":
        raise IllegalTransition(
            f"Offer {offer.id} is {offer.state}: only an offer awaiting approval can be {done}."
        )


async def approve(
    session: AsyncSession,
    offer_id: uuid.UUID,
    principal: Principal,
    comment: str | None,
    now: datetime,
) -> OfferOut:
    """Fill the slot ``principal`` may fill (``slot_for``); once every slot is filled the
    offer is approved (``finish_approval``). 403 saying why a principal may not; 409 for an
    offer no longer awaiting approval."""
    offer = await _locked(session, offer_id)
    _awaiting_approval(offer, "approved")
    if await repo.program_status(session, offer.program_id) == "archived":
        raise IllegalTransition(f"Offer {offer.id}: {ARCHIVED_PROGRAM}.")
    needs = approval_needs(offer, list(await repo.approvals_of(session, offer.id)))
    try:
        slot = slot_for(needs, principal.name, principal.scopes)
    except ApprovalRefused as exc:
        raise ApprovalForbidden(str(exc)) from exc
    # The row lock makes approvals take turns; the table's keys guard the same rule anyway.
    if not await repo.add_approval(session, offer.id, slot, principal.name, now, comment):
        raise ApprovalForbidden(f"{principal.name} cannot fill the {slot} slot: it is taken")
    offer.updated_at = now
    step = event(offer, "approval", principal.name, now, comment, {"slot": slot})
    await repo.add_events(session, [step])
    if len(needs.open_slots()) == 1:  # the slot just filled was the last
        await finish_approval(session, offer, principal.name, now)
    return OfferOut.model_validate(offer)


def approval_steps(
    offer: OfferLike, principal: str, now: datetime
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Approve an offer whose approvals are all given (or that needs none), in memory: its
    new state, the steps of its story, and the grant to ask of the ledger (a credit) or None
    (a perk or a discount, issued at once). ``finish_approval`` writes them."""
    move(offer, "approved", now)
    if reward_kind(offer) == "credit":
        if offer.credit_expires_after is None:
            raise ValueError(f"credit offer {offer.id} has no credit_expires_after")
        grant = GrantRequested(
            offer_id=str(offer.id),
            account_id=offer.account_id,
            program_id=offer.program_id,
            tier=cast(Tier, offer.tier),
            unit=offer.currency,
            amount_minor=offer.value_minor,
            lasts=offer.credit_expires_after,
            approved_at=now,
        )
        detail = {"grant_requested_minor": grant.amount_minor}
        return [event(offer, "approved", principal, now, detail=detail)], grant.model_dump(
            mode="json"
        )
    approved = event(offer, "approved", principal, now)
    move(offer, "issued", now)
    return [approved, event(offer, "issued", principal, now)], None


async def finish_approval(
    session: AsyncSession, offer: Offer, principal: str, now: datetime
) -> None:
    """Approve an offer whose approvals are all given, in the caller's unit of work: a credit
    is asked of the ledger (``offer.grant_requested``, granted under the offer's id, so a
    repeat never grants twice) and becomes issued when the ledger says it granted; a perk or
    a discount is issued at once.

    ``offer`` is loaded in ``session`` and locked by it; ``principal`` is whoever gave the
    last approval.
    """
    steps, grant = approval_steps(offer, principal, now)
    if grant is not None:
        enqueue(session, Outbox, LEDGER, GRANT_REQUESTED, grant)
    await repo.add_events(session, steps)


async def reject(
    session: AsyncSession, offer_id: uuid.UUID, principal: Principal, comment: str, now: datetime
) -> OfferOut:
    """Reject an offer awaiting approval and give its whole reservation back to its budgets.
    Whoever may not approve it may not reject it either (403 saying why)."""
    offer = await _locked(session, offer_id)
    # An approved credit may already be on its way to the ledger: it is revoked, not rejected.
    _awaiting_approval(offer, "rejected")
    needs = approval_needs(offer, list(await repo.approvals_of(session, offer.id)))
    try:
        check_may_reject(needs, principal.name, principal.scopes)
    except ApprovalRefused as exc:
        raise ApprovalForbidden(str(exc)) from exc
    move(offer, "rejected", now)
    given = await release(session, offer, offer.value_minor)
    step = event(offer, "rejected", principal.name, now, comment, {"released_minor": given})
    await repo.add_events(session, [step])
    return OfferOut.model_validate(offer)


async def revoke(
    session: AsyncSession, offer_id: uuid.UUID, principal: str, reason: str, now: datetime
) -> OfferOut:
    """Revoke an offer before it is spent or gone. A credit approved or granted is reversed
    in the ledger (``offer.revoke_requested``, after its grant in the outbox's order; the
    ledger reverses only what is unredeemed) and its budget released when the ledger says
    what it reversed; anything else gives its reservation back now."""
    offer = await _locked(session, offer_id)
    was = offer.state
    asks_ledger = revoke_asks_ledger(cast(OfferState, offer.state), reward_kind(offer))
    move(offer, "revoked", now)
    if asks_ledger:
        request = RevokeRequested(
            offer_id=str(offer.id), reason=reason, requested_by=principal, requested_at=now
        )
        enqueue(session, Outbox, LEDGER, REVOKE_REQUESTED, request.model_dump(mode="json"))
        detail: dict[str, Any] = {"revoke_requested": True}
        if was == "approved":
            # No grant is known: the ledger may never have one to reverse (its request
            # parked, or refused), so the budget comes back now. Should the grant have been
            # made after all, its reversal releases nothing more, and what was spent of it
            # meanwhile is committed again (``credits``).
            detail["released_minor"] = await release(session, offer, offer.value_minor)
    else:
        detail = {"released_minor": await release(session, offer, offer.value_minor)}
    await repo.add_events(session, [event(offer, "revoked", principal, now, reason, detail)])
    return OfferOut.model_validate(offer)


async def get_offer(session: AsyncSession, offer_id: uuid.UUID) -> OfferOut:
    """One offer as it stands."""
    offer = await repo.get_offer(session, offer_id)
    if offer is None:
        raise UnknownOffer(f"There is no offer {offer_id}.")
    return OfferOut.model_validate(offer)


async def list_offers(
    session: AsyncSession, filters: OfferFilters, page: PageRequest[Position]
) -> Page[OfferOut]:
    """Offers newest first, narrowed by account, program and state."""
    rows = await repo.list_offers(session, filters, before=page.after, limit=page.limit + 1)
    return page.page(rows, OfferOut.model_validate, lambda o: (o.created_at, o.id))


async def trace(session: AsyncSession, offer_id: uuid.UUID) -> OfferTrace:
    """The whole story of one offer, from the snapshot its decision saw to the ledger."""
    offer = await repo.get_offer(session, offer_id)
    if offer is None:
        raise UnknownOffer(f"There is no offer {offer_id}.")
    decision = await repo.get_decision(session, offer.decision_id)
    events = [OfferEventOut.model_validate(e) for e in await repo.events_of(session, offer.id)]
    return OfferTrace(
        offer=OfferOut.model_validate(offer),
        snapshot=offer.snapshot,
        decision=None if decision is None else DecisionOut.model_validate(decision),
        approvals=[
            ApprovalOut.model_validate(a) for a in await repo.approvals_of(session, offer.id)
        ],
        events=events,
        ledger_transactions=[
            LedgerTransactionOut(
                at=e.at, kind=e.event.removeprefix(LEDGER_EVENT_PREFIX), **e.detail
            )
            for e in events
            if e.event.startswith(LEDGER_EVENT_PREFIX)
        ],
    )
