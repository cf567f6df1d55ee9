"""Transactions with their postings and lot movements, read back."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.ledger.models import LedgerTransaction, LotMovement, Posting


async def get_transaction(
    session: AsyncSession, transaction_id: uuid.UUID
) -> LedgerTransaction | None:
    """One transaction."""
    return await session.get(LedgerTransaction, transaction_id)


async def postings_of(
    session: AsyncSession, transaction_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Posting]]:
    """Postings of the given transactions, by transaction."""
    out: dict[uuid.UUID, list[Posting]] = {t: [] for t in transaction_ids}
    if transaction_ids:
        rows = await session.scalars(
            select(Posting)
            .where(Posting.transaction_id.in_(list(transaction_ids)))
            .order_by(Posting.id)
        )
        for p in rows:
            out[p.transaction_id].append(p)
    return out


async def movements_of(
    session: AsyncSession, transaction_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[LotMovement]]:
    """Lot movements of the given transactions, by transaction."""
    out: dict[uuid.UUID, list[LotMovement]] = {t: [] for t in transaction_ids}
    if transaction_ids:
        rows = await session.scalars(
            select(LotMovement)
            .where(LotMovement.transaction_id.in_(list(transaction_ids)))
            .order_by(LotMovement.id)
        )
        for m in rows:
            out[m.transaction_id].append(m)
    return out


async def list_transactions(
    session: AsyncSession,
    *,
    filters: dict[str, str],
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[LedgerTransaction]:
    """Transactions matching reference filters, oldest first."""
    query = select(LedgerTransaction).order_by(LedgerTransaction.created_at, LedgerTransaction.id)
    columns = {
        "offer_id": LedgerTransaction.offer_id,
        "program_id": LedgerTransaction.program_id,
        "invoice_id": LedgerTransaction.invoice_id,
        "account_id": LedgerTransaction.customer_account_id,
        "kind": LedgerTransaction.kind,
    }
    for name, value in filters.items():
        query = query.where(columns[name] == value)
    if after is not None:
        query = query.where(
            func.row(LedgerTransaction.created_at, LedgerTransaction.id) > func.row(*after)
        )
    return (await session.scalars(query.limit(limit))).all()
