"""Where other services' outboxes deliver to offers: scoring's snapshots, the ledger's credit."""

from __future__ import annotations

from fastapi import APIRouter

from services.offers.api.deps import Writer
from services.offers.service import notifications as service
from shared.deps import Session
from shared.errors import Unprocessable, responses
from shared.json_body import JsonBodyRoute
from shared.outbox import Delivery, DeliveryAck

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1", tags=["notifications"])


@router.post("/notifications", responses=responses(Unprocessable))
async def receive(body: Delivery, session: Session, sender: Writer) -> DeliveryAck:
    """Keep the snapshots scoring announces and move offers as the ledger reports their
    credit granted, redeemed, expired or reversed; a message id seen before is acknowledged
    and not redone. Each snapshot kept is decided by every live program at once."""
    return await service.receive(session, body, sender)
