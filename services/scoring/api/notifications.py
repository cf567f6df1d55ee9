"""Where other services' outboxes deliver to scoring."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from services.scoring import repository as repo
from services.scoring.domain.changes import changed_accounts
from services.scoring.models import Inbox
from services.scoring.schemas import AccountChangeOut
from shared.auth import Principal, require
from shared.deps import Session
from shared.errors import Unprocessable, responses
from shared.outbox import Delivery, DeliveryAck, record_new
from shared.pagination import Page, PageRequest, paginated

router = APIRouter(prefix="/v1", tags=["notifications"])
Position = tuple[str]  # (account_id,)


@router.post("/notifications", responses=responses(Unprocessable))
async def receive(
    body: Delivery,
    session: Session,
    _: Annotated[Principal, Depends(require("scores:write"))],
) -> DeliveryAck:
    """Record which accounts changed; a message id seen before is acknowledged, not redone."""
    new = await record_new(session, Inbox, body.messages)
    fresh = [m for m in body.messages if m.id in new]
    await repo.record_changes(session, changed_accounts((m.topic, m.payload) for m in fresh))
    return DeliveryAck(
        processed=[m.id for m in fresh],
        duplicates=[m.id for m in body.messages if m.id not in new],
    )


@router.get("/account-changes", responses=responses())
async def list_changes(
    session: Session,
    _: Annotated[Principal, Depends(require("scores:read"))],
    page: Annotated[PageRequest[Position], Depends(paginated(Position))],
) -> Page[AccountChangeOut]:
    """Accounts whose signals changed and that wait to be rescored."""
    rows = await repo.pending_changes(
        session, after=page.after[0] if page.after else None, limit=page.limit + 1
    )
    return page.page(rows, AccountChangeOut.model_validate, lambda r: (r.account_id,))
