"""The accounts.changed feed: what scoring is told, in the writer's transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.models import Outbox
from shared.contracts import ACCOUNTS_CHANGED, AccountsChanged
from shared.outbox import enqueue


def notify_changed(session: AsyncSession, account_ids: set[str]) -> None:
    """Tell scoring, in this transaction, which accounts' signals changed (one message)."""
    if account_ids:
        message = AccountsChanged(account_ids=sorted(account_ids))
        enqueue(session, Outbox, "scoring", ACCOUNTS_CHANGED, message.model_dump())
