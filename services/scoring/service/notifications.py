"""Messages other services deliver to scoring: ``accounts.changed`` queues accounts to rescore."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.domain.changes import changed_accounts
from services.scoring.models import Inbox
from services.scoring.repository import changes as repo
from services.scoring.schemas.changes import AccountChangeOut
from shared.outbox import Delivery, DeliveryAck, record_new
from shared.pagination import Page, PageRequest


async def receive(session: AsyncSession, delivery: Delivery) -> DeliveryAck:
    """Queue the named accounts for the worker; a message id seen before is acknowledged and
    not redone. Scoring happens after the acknowledgement, in batches."""
    new = await record_new(session, Inbox, delivery.messages)
    fresh = [m for m in delivery.messages if m.id in new]
    await repo.record_changes(session, changed_accounts((m.topic, m.payload) for m in fresh))
    return DeliveryAck(
        processed=[m.id for m in fresh],
        duplicates=[m.id for m in delivery.messages if m.id not in new],
    )


Position = tuple[str]  # (account_id,)


async def pending(session: AsyncSession, page: PageRequest[Position]) -> Page[AccountChangeOut]:
    """Accounts waiting to be rescored, by id."""
    rows = await repo.pending_changes(
        session, after=page.after[0] if page.after else None, limit=page.limit + 1
    )
    return page.page(rows, AccountChangeOut.model_validate, lambda r: (r.account_id,))
