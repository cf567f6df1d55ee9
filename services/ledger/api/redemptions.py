"""Redemptions: apply a customer's credit to an invoice."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.ledger.api.answers import kept_response
from services.ledger.api.deps import IdempotencyKey, Writer
from services.ledger.schemas import RedemptionIn, RedemptionOut
from services.ledger.service import writes
from shared.errors import (
    InsufficientCredit,
    KeyInFlight,
    KeyReused,
    NotFound,
    Unprocessable,
    responses,
)
from shared.json_body import JsonBodyRoute

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1/redemptions", tags=["redemptions"])


@router.post(
    "",
    response_model=RedemptionOut,
    responses=responses(NotFound, InsufficientCredit, KeyInFlight, Unprocessable, KeyReused),
)
async def create_redemption(
    body: RedemptionIn, request: Request, principal: Writer, key: IdempotencyKey
) -> Response:
    """Apply up to ``amount`` from lots that expire first; the answer says what applied."""
    outcome = await writes.write(request.app.state.writer, principal, key, request.url.path, body)
    return kept_response(outcome)
