"""A customer's credit: balances now or at any past time, and the lots that hold it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.ledger.rendering import lot_json, utc_now
from services.ledger.repository import balances as repo
from services.ledger.repository import lots as lots_repo
from services.ledger.schemas import BalanceOut, LotOut
from shared.errors import NotFound
from shared.pagination import Page, PageRequest


async def balances(
    session: AsyncSession, account_id: str, unit: str | None, as_of: datetime | None
) -> list[BalanceOut]:
    """A customer's credit per unit, now (stored, with what is available to redeem) or as of a
    past time (from postings)."""
    accounts = await repo.customer_accounts(session, account_id, unit)
    if not accounts:
        what = f" in {unit}" if unit else ""
        raise NotFound(f"Account '{account_id}' has no credit{what} in the ledger.")
    now = utc_now()
    out = []
    for acct in accounts:
        amount = acct.balance or 0
        available: int | None = None
        if as_of is not None:
            amount = -await repo.posted_sum(session, acct.id, as_of)
        else:
            available = amount - await repo.expired_unswept(session, acct.id, now)
        out.append(
            BalanceOut(
                account_id=account_id,
                unit=acct.unit,
                balance=amount,
                available=available,
                as_of=as_of,
            )
        )
    return out


async def list_lots(
    session: AsyncSession,
    page: PageRequest[tuple[datetime, uuid.UUID]],
    account_id: str | None,
    status: str | None,
) -> Page[LotOut]:
    """Credit lots in grant order, by customer and status (active, used, expired) now."""
    now = utc_now()
    rows = await lots_repo.list_lots(
        session,
        account_id=account_id,
        status=status,
        now=now,
        after=page.after,
        limit=page.limit + 1,
    )
    return page.page(
        rows,
        lambda lot: LotOut.model_validate(lot_json(lot, now)),
        lambda lot: (lot.granted_at, lot.id),
    )
