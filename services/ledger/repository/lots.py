"""Credit lots: listed for callers, and found past expiry for the sweep."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.ledger.models import CreditLot


async def list_lots(
    session: AsyncSession,
    *,
    account_id: str | None,
    status: str | None,
    now: datetime,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[CreditLot]:
    """Lots in grant order, by customer and status (``domain.lots.lot_status`` as a filter;
    a database test holds the two together)."""
    query = select(CreditLot).order_by(CreditLot.granted_at, CreditLot.id).limit(limit)
    if account_id is not None:
        query = query.where(CreditLot.customer_account_id == account_id)
    if status == "active":
        query = query.where(CreditLot.remaining > 0, CreditLot.expires_at > now)
    elif status == "used":
        query = query.where(CreditLot.remaining == 0, CreditLot.expires_at > now)
    elif status == "expired":
        query = query.where(CreditLot.expires_at <= now)
    if after is not None:
        query = query.where(func.row(CreditLot.granted_at, CreditLot.id) > func.row(*after))
    return (await session.scalars(query)).all()


@dataclass(frozen=True)
class DueAccount:
    """A ledger account with lots past expiry, and the programs those lots came from."""

    ledger_account_id: str
    unit: str
    programs: list[str | None]


async def due_accounts(session: AsyncSession, as_of: datetime, limit: int) -> list[DueAccount]:
    """Ledger accounts with lots past expiry and credit left, with those lots' programs."""
    rows = await session.execute(
        select(
            CreditLot.ledger_account_id,
            func.min(CreditLot.unit),
            func.array_agg(CreditLot.program_id.distinct()),
        )
        .where(CreditLot.remaining > 0, CreditLot.expires_at <= as_of)
        .group_by(CreditLot.ledger_account_id)
        .order_by(CreditLot.ledger_account_id)
        .limit(limit)
    )
    return [DueAccount(account, unit, list(programs)) for account, unit, programs in rows.all()]
