"""Messages other services deliver to scoring: ``accounts.changed`` queues accounts to rescore."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.domain.changes import changed_accounts
from services.scoring.models import Inbox
from services.scoring.repository import changes as repo
from services.scoring.schemas.changes import AccountChangeOut
from shared.contracts import ACCOUNTS_CHANGED, AccountsChanged
from shared.outbox import (
    Delivery,
    DeliveryAck,
    acknowledgement,
    fresh_messages,
    read_delivery,
    record_new,
)
from shared.pagination import Page, PageRequest


async def receive(session: AsyncSession, delivery: Delivery) -> DeliveryAck:
    """Queue the named accounts for the worker; a message id seen before is acknowledged and
    not redone, one that does not read as the contract says is refused (422, to be parked).
    Scoring happens after the acknowledgement, in batches."""
    read = read_delivery(delivery, ACCOUNTS_CHANGED, AccountsChanged)
    new = await record_new(session, Inbox, delivery.messages)
    fresh = fresh_messages(delivery.messages, new)
    taken = {id(m) for m in fresh}
    await repo.record_changes(session, changed_accounts(c for m, c in read if id(m) in taken))
    return acknowledgement(delivery.messages, fresh)


Position = tuple[str]  # (account_id,)


async def pending(session: AsyncSession, page: PageRequest[Position]) -> Page[AccountChangeOut]:
    """Accounts waiting to be rescored, by id."""
    rows = await repo.pending_changes(
        session, after=page.after[0] if page.after else None, limit=page.limit + 1
    )
    return page.page(rows, AccountChangeOut.model_validate, lambda r: (r.account_id,))
