"""Transactions read back as callers see them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.ledger.domain.book import Entry
from services.ledger.domain.lots import Allocation
from services.ledger.domain.reversals import PostingLine
from services.ledger.models import LedgerTransaction
from services.ledger.rendering import transaction_json
from services.ledger.repository import transactions as repo
from services.ledger.schemas import TransactionOut
from shared.errors import NotFound
from shared.pagination import Page, PageRequest


def transaction_fields(tx: LedgerTransaction) -> dict[str, Any]:
    """A stored transaction's fields, as the book writes them."""
    return {
        "id": tx.id,
        "kind": tx.kind,
        "idempotency_key": tx.idempotency_key,
        "effective_at": tx.effective_at,
        "customer_account_id": tx.customer_account_id,
        "offer_id": tx.offer_id,
        "program_id": tx.program_id,
        "invoice_id": tx.invoice_id,
        "tier": tx.tier,
        "reverses_id": tx.reverses_id,
        "metadata": tx.metadata_ or {},
        "chain_key": tx.chain_key,
        "chain_seq": tx.chain_seq,
        "prev_hash": tx.prev_hash,
        "hash": tx.hash,
    }


async def transactions_out(
    session: AsyncSession, txs: Sequence[LedgerTransaction]
) -> list[TransactionOut]:
    """Stored transactions with their postings and movements (two queries for all)."""
    ids = [tx.id for tx in txs]
    postings = await repo.postings_of(session, ids)
    movements = await repo.movements_of(session, ids)
    return [
        TransactionOut.model_validate(
            transaction_json(
                Entry(
                    transaction_fields(tx),
                    [PostingLine(p.ledger_account_id, p.unit, p.amount) for p in postings[tx.id]],
                    [Allocation(m.lot_id, m.amount) for m in movements[tx.id]],
                )
            )
        )
        for tx in txs
    ]


async def get_transaction(session: AsyncSession, transaction_id: uuid.UUID) -> TransactionOut:
    """One transaction with its postings and lot movements."""
    tx = await repo.get_transaction(session, transaction_id)
    if tx is None:
        raise NotFound(f"No transaction {transaction_id}.")
    (out,) = await transactions_out(session, [tx])
    return out


async def list_transactions(
    session: AsyncSession,
    page: PageRequest[tuple[datetime, uuid.UUID]],
    references: dict[str, str | None],
) -> Page[TransactionOut]:
    """Transactions matching every reference given (None: any), oldest first, a page at a time."""
    filters = {name: value for name, value in references.items() if value is not None}
    rows = await repo.list_transactions(
        session, filters=filters, after=page.after, limit=page.limit + 1
    )
    shown = {out.id: out for out in await transactions_out(session, rows[: page.limit])}
    return page.page(rows, lambda r: shown[r.id], lambda r: (r.created_at, r.id))
