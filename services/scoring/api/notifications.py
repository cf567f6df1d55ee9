"""Where other services' outboxes deliver to scoring, and the queue of accounts to rescore."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from services.scoring.api.deps import Reader, Writer
from services.scoring.schemas.changes import AccountChangeOut
from services.scoring.service import notifications as service
from shared.deps import Session
from shared.errors import Unprocessable, responses
from shared.json_body import JsonBodyRoute
from shared.outbox import Delivery, DeliveryAck
from shared.pagination import Page, PageRequest, paginated

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1", tags=["notifications"])
Pages = Annotated[PageRequest[service.Position], Depends(paginated(service.Position))]


@router.post("/notifications", responses=responses(Unprocessable))
async def receive(body: Delivery, session: Session, _: Writer) -> DeliveryAck:
    """Queue the accounts ingest says changed, to be rescored in batches; a message id seen
    before is acknowledged, not redone."""
    return await service.receive(session, body)


@router.get("/account-changes", responses=responses())
async def list_changes(session: Session, _: Reader, page: Pages) -> Page[AccountChangeOut]:
    """Accounts whose signals changed and that wait to be rescored."""
    return await service.pending(session, page)
