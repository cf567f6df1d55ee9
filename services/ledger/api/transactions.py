"""Transactions: read them, find them by reference, reverse them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.ledger.api.answers import kept_response
from services.ledger.api.deps import IdempotencyKey, Reader, Writer
from services.ledger.schemas import (
    AdjustmentIn,
    BatchIn,
    BatchOut,
    ReversalIn,
    ReversalOut,
    ReverseIn,
    TransactionOut,
)
from services.ledger.service import batches, writes
from services.ledger.service import transactions as service
from shared.deps import Admin, Session
from shared.errors import (
    InsufficientCredit,
    KeyInFlight,
    KeyReused,
    NotFound,
    NotReversible,
    Unprocessable,
    json_response,
    responses,
)
from shared.json_body import JsonBodyRoute
from shared.pagination import Page, PageRequest, paginated
from shared.validation import QueryText

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1/transactions", tags=["transactions"])
Position = tuple[datetime, uuid.UUID]  # (created_at, id)


@router.get("/{transaction_id}", responses=responses(NotFound))
async def get_transaction(transaction_id: uuid.UUID, session: Session, _: Reader) -> TransactionOut:
    """One transaction with its postings and lot movements."""
    return await service.get_transaction(session, transaction_id)


@router.get("", responses=responses())
async def list_transactions(
    session: Session,
    _: Reader,
    page: Annotated[PageRequest[Position], Depends(paginated(Position))],
    offer_id: QueryText | None = None,
    program_id: QueryText | None = None,
    invoice_id: QueryText | None = None,
    account_id: QueryText | None = None,
    kind: Literal["grant", "redemption", "expiry", "reversal", "adjustment"] | None = None,
) -> Page[TransactionOut]:
    """Transactions by reference (offer, program, invoice, account) or kind, oldest first."""
    references = {
        "offer_id": offer_id,
        "program_id": program_id,
        "invoice_id": invoice_id,
        "account_id": account_id,
        "kind": kind,
    }
    return await service.list_transactions(session, page, references)


@router.post(
    "/{transaction_id}/reverse",
    response_model=ReversalOut,
    responses=responses(NotFound, NotReversible, KeyInFlight, Unprocessable, KeyReused),
)
async def reverse_transaction(
    transaction_id: uuid.UUID,
    body: ReverseIn,
    request: Request,
    principal: Writer,
    key: IdempotencyKey,
) -> Response:
    """Reverse with a linked opposite transaction; reversing twice (or a reversal) is a 409."""
    reversal = ReversalIn(transaction_id=transaction_id, reason=body.reason)
    outcome = await writes.write(
        request.app.state.writer, principal, key, request.url.path, reversal
    )
    return kept_response(outcome)


@router.post("/batch", response_model=BatchOut, responses=responses(Unprocessable))
async def batch(body: BatchIn, request: Request, principal: Writer) -> Response:
    """Up to 1,000 grants, redemptions and reversals, each under its own idempotency key,
    each atomic on its own, committed together; one result per item, in order."""
    result = await batches.run_batch(
        request.app.state.writer, principal, request.url.path, body.items
    )
    return json_response(200, result)


@router.post(
    "",
    status_code=201,
    response_model=TransactionOut,
    responses=responses(Unprocessable, KeyReused, InsufficientCredit, KeyInFlight),
)
async def create_adjustment(
    body: AdjustmentIn, request: Request, principal: Admin, key: IdempotencyKey
) -> Response:
    """A manual adjustment with explicit postings that sum to zero (admin scope)."""
    outcome = await writes.write(request.app.state.writer, principal, key, request.url.path, body)
    return kept_response(outcome)
