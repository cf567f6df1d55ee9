"""A customer's credit: balances now or at any past time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.ledger.repository import balances as repo
from services.ledger.schemas import (
    BalanceOut,
)
from shared.errors import NotFound


async def balances(
    session: AsyncSession, account_id: str, unit: str | None, as_of: datetime | None
) -> list[BalanceOut]:
    """A customer's credit per unit, now (stored) or as of a past time (from postings)."""
    accounts = await repo.customer_accounts(session, account_id, unit)
    if not accounts:
        what = f" in {unit}" if unit else ""
        raise NotFound(f"Account '{account_id}' has no credit{what} in the ledger.")
    out = []
    for acct in accounts:
        amount = acct.balance or 0
        if as_of is not None:
            amount = -await repo.posted_sum(session, acct.id, as_of)
        out.append(BalanceOut(account_id=account_id, unit=acct.unit, balance=amount, as_of=as_of))
    return out
