"""Where offers' outbox delivers its grant and revoke requests."""

from __future__ import annotations

from fastapi import APIRouter, Request

from services.ledger.api.deps import Writer
from services.ledger.service import notifications as service
from shared.deps import Session
from shared.errors import RetryLater, Unprocessable, responses
from shared.json_body import JsonBodyRoute
from shared.outbox import Delivery, DeliveryAck

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1", tags=["notifications"])


@router.post("/notifications", responses=responses(Unprocessable, RetryLater))
async def receive(
    body: Delivery, request: Request, session: Session, principal: Writer
) -> DeliveryAck:
    """Grant approved offers' credit and revoke offers (``offer.grant_requested``,
    ``offer.revoke_requested``); a message id seen before is acknowledged, not redone."""
    return await service.receive(
        session, request.app.state.writer, principal, body, request.url.path
    )
