"""Grants: credit a customer, creating a lot that expires."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.ledger.api.answers import kept_response
from services.ledger.api.deps import IdempotencyKey, Writer
from services.ledger.schemas import GrantIn, GrantOut
from services.ledger.service import writes
from shared.errors import KeyInFlight, KeyReused, Unprocessable, responses
from shared.json_body import JsonBodyRoute

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1/grants", tags=["grants"])


@router.post(
    "",
    status_code=201,
    response_model=GrantOut,
    responses=responses(Unprocessable, KeyReused, KeyInFlight),
)
async def create_grant(
    body: GrantIn, request: Request, principal: Writer, key: IdempotencyKey
) -> Response:
    """Grant credit (expense -> customer) with a lot expiring at ``expires_at``."""
    outcome = await writes.write(request.app.state.writer, principal, key, request.url.path, body)
    return kept_response(outcome)
