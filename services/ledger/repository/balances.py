"""Customers' credit ledger accounts and their balances."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.ledger.models import CreditLot, LedgerAccount, Posting


async def customer_accounts(
    session: AsyncSession, account_id: str, unit: str | None
) -> Sequence[LedgerAccount]:
    """A customer's credit ledger accounts (one per unit)."""
    query = select(LedgerAccount).where(
        LedgerAccount.kind == "customer", LedgerAccount.customer_account_id == account_id
    )
    if unit is not None:
        query = query.where(LedgerAccount.unit == unit)
    return (await session.scalars(query.order_by(LedgerAccount.unit))).all()


async def posted_sum(session: AsyncSession, ledger_account_id: str, as_of: datetime) -> int:
    """The sum of an account's postings effective at or before ``as_of``."""
    total = await session.scalar(
        select(func.coalesce(func.sum(Posting.amount), 0)).where(
            Posting.ledger_account_id == ledger_account_id, Posting.effective_at <= as_of
        )
    )
    return int(total or 0)


async def expired_unswept(session: AsyncSession, ledger_account_id: str, now: datetime) -> int:
    """Credit left in an account's lots that have expired (``domain.lots.lot_status``) but
    that the sweep has not yet moved to breakage."""
    total = await session.scalar(
        select(func.coalesce(func.sum(CreditLot.remaining), 0)).where(
            CreditLot.ledger_account_id == ledger_account_id,
            CreditLot.remaining > 0,
            CreditLot.expires_at <= now,
        )
    )
    return int(total or 0)
