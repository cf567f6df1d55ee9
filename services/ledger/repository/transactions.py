"""Transactions with their postings and lot movements, read back."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.ledger.models import LedgerTransaction, LotMovement, Posting

L = TypeVar("L", Posting, LotMovement)


async def get_transaction(
    session: AsyncSession, transaction_id: uuid.UUID
) -> LedgerTransaction | None:
    """One transaction."""
    return await session.get(LedgerTransaction, transaction_id)


async def _lines_of(
    session: AsyncSession, model: type[L], transaction_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[L]]:
    """Rows of ``model`` (postings or lot movements) of the given transactions, by
    transaction, in id order: one query for a whole page."""
    out: dict[uuid.UUID, list[L]] = {t: [] for t in transaction_ids}
    if transaction_ids:
        rows = await session.scalars(
            select(model).where(model.transaction_id.in_(list(transaction_ids))).order_by(model.id)
        )
        for row in rows:
            out[row.transaction_id].append(row)
    return out


async def postings_of(
    session: AsyncSession, transaction_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Posting]]:
    """Postings of the given transactions, by transaction."""
    return await _lines_of(session, Posting, transaction_ids)


async def movements_of(
    session: AsyncSession, transaction_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[LotMovement]]:
    """Lot movements of the given transactions, by transaction."""
    return await _lines_of(session, LotMovement, transaction_ids)


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
