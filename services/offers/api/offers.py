"""Offers: the list a CRM shows, one offer, its trace, and its approval, rejection, revoke."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends

from services.offers.api.deps import OfferApprover, Reader, Writer
from services.offers.domain.offers import OfferState
from services.offers.repository.offers import OfferFilters
from services.offers.schemas.offers import ApproveIn, OfferOut, OfferTrace, RejectIn, RevokeIn
from services.offers.service import offers as service
from shared.deps import Session
from shared.errors import (
    ApprovalForbidden,
    IllegalTransition,
    UnknownOffer,
    Unprocessable,
    responses,
)
from shared.json_body import JsonBodyRoute
from shared.pagination import Page, PageRequest, paginated
from shared.validation import QueryText

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1/offers", tags=["offers"])
Pages = Annotated[PageRequest[service.Position], Depends(paginated(service.Position))]
QueryId = QueryText | None


@router.get("", responses=responses(Unprocessable))
async def list_offers(
    session: Session,
    _: Reader,
    page: Pages,
    account_id: QueryId = None,
    program_id: QueryId = None,
    state: OfferState | None = None,
) -> Page[OfferOut]:
    """Offers newest first, by account, program and state."""
    filters = OfferFilters(account_id=account_id, program_id=program_id, state=state)
    return await service.list_offers(session, filters, page)


@router.get("/{offer_id}", responses=responses(UnknownOffer, Unprocessable))
async def get_offer(offer_id: uuid.UUID, session: Session, _: Reader) -> OfferOut:
    """One offer as it stands: state, approvals needed, budget released, credit granted,
    redeemed and remaining."""
    return await service.get_offer(session, offer_id)


@router.get("/{offer_id}/trace", responses=responses(UnknownOffer, Unprocessable))
async def get_trace(offer_id: uuid.UUID, session: Session, _: Reader) -> OfferTrace:
    """The whole story of one offer: the snapshot its decision saw, the decision and its
    reason, each approval, every step with who, when and why, and the ledger transactions
    (ids and hashes) of its credit."""
    return await service.trace(session, offer_id)


_DECIDING = responses(UnknownOffer, ApprovalForbidden, IllegalTransition, Unprocessable)


@router.post("/{offer_id}/approve", responses=_DECIDING)
async def approve(
    offer_id: uuid.UUID, body: ApproveIn, session: Session, principal: OfferApprover
) -> OfferOut:
    """Approve as the key's principal: ``offers:approve`` fills the approver slot,
    ``offers:approve_finance`` the finance slot; the program's owner and the offer's
    proposer never approve, and nobody fills two slots (403 saying why). The last approval
    approves the offer: a credit is then granted in the ledger, a perk or discount issued."""
    return await service.approve(session, offer_id, principal, body.comment, datetime.now(UTC))


@router.post("/{offer_id}/reject", responses=_DECIDING)
async def reject(
    offer_id: uuid.UUID, body: RejectIn, session: Session, principal: OfferApprover
) -> OfferOut:
    """Reject an offer awaiting approval (whoever may approve it may reject it) and release
    its budget."""
    return await service.reject(session, offer_id, principal, body.comment, datetime.now(UTC))


@router.post(
    "/{offer_id}/revoke", responses=responses(UnknownOffer, IllegalTransition, Unprocessable)
)
async def revoke(
    offer_id: uuid.UUID, body: RevokeIn, session: Session, principal: Writer
) -> OfferOut:
    """Revoke an offer not yet spent or gone: a granted credit is reversed in the ledger for
    what is unredeemed (its budget released when the ledger has), anything else releases its
    budget now."""
    return await service.revoke(session, offer_id, principal.name, body.reason, datetime.now(UTC))
