"""The ledger's SQL. Functions run on the caller's session; none commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ledger.models import (
    CreditLot,
    IdempotencyKey,
    LedgerAccount,
    LedgerTransaction,
    LotMovement,
    Posting,
)

# --- ledger accounts ----------------------------------------------------------------------


async def ensure_accounts(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Create ledger accounts that do not exist yet (customer ones start at balance 0)."""
    if rows:
        optional = {"customer_account_id": None, "program_id": None, "balance": None}
        ordered = sorted(({**optional, **r} for r in rows), key=lambda r: r["id"])
        await session.execute(insert(LedgerAccount).values(ordered).on_conflict_do_nothing())


async def lock_account(session: AsyncSession, ledger_account_id: str) -> LedgerAccount | None:
    """A ledger account row, locked until commit (its balance and chain head change)."""
    return await session.scalar(
        select(LedgerAccount)
        .where(LedgerAccount.id == ledger_account_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


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


# --- transactions -------------------------------------------------------------------------


async def insert_transaction(
    session: AsyncSession,
    transaction: LedgerTransaction,
    postings: Sequence[Posting],
    lots: Sequence[CreditLot] = (),
    movements: Sequence[LotMovement] = (),
) -> None:
    """Insert a transaction, then its postings and new lots, then its lot movements.

    Flushed in that order because each refers to what comes before it.
    """
    session.add(transaction)
    await session.flush()
    session.add_all([*postings, *lots])
    await session.flush()
    session.add_all(movements)
    await session.flush()


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


async def is_reversed(session: AsyncSession, transaction_id: uuid.UUID) -> bool:
    """Whether a reversal of this transaction exists."""
    found = await session.scalar(
        select(LedgerTransaction.id).where(LedgerTransaction.reverses_id == transaction_id)
    )
    return found is not None


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


# --- lots ---------------------------------------------------------------------------------


async def lock_open_lots(session: AsyncSession, ledger_account_id: str) -> Sequence[CreditLot]:
    """An account's lots with credit left, locked, in redemption order."""
    return (
        await session.scalars(
            select(CreditLot)
            .where(CreditLot.ledger_account_id == ledger_account_id, CreditLot.remaining > 0)
            .order_by(CreditLot.expires_at, CreditLot.granted_at, CreditLot.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).all()


async def lock_lots(
    session: AsyncSession, lot_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, CreditLot]:
    """Lots by id, locked."""
    rows = await session.scalars(
        select(CreditLot)
        .where(CreditLot.id.in_(sorted(lot_ids)))
        .order_by(CreditLot.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {lot.id: lot for lot in rows}


async def lot_of_grant(session: AsyncSession, grant_id: uuid.UUID) -> CreditLot | None:
    """The lot a grant created, locked."""
    return await session.scalar(
        select(CreditLot)
        .where(CreditLot.grant_id == grant_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def list_lots(
    session: AsyncSession,
    *,
    account_id: str | None,
    status: str | None,
    now: datetime,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[CreditLot]:
    """Lots in grant order, by customer and status (active, used, expired)."""
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


async def due_lot_accounts(session: AsyncSession, as_of: datetime, limit: int) -> list[str]:
    """Ledger accounts that have lots past expiry with credit left."""
    rows = await session.scalars(
        select(CreditLot.ledger_account_id)
        .where(CreditLot.remaining > 0, CreditLot.expires_at <= as_of)
        .group_by(CreditLot.ledger_account_id)
        .order_by(CreditLot.ledger_account_id)
        .limit(limit)
    )
    return list(rows)


async def lock_due_lots(
    session: AsyncSession, ledger_account_id: str, as_of: datetime
) -> Sequence[CreditLot]:
    """An account's lots past expiry with credit left, locked."""
    return (
        await session.scalars(
            select(CreditLot)
            .where(
                CreditLot.ledger_account_id == ledger_account_id,
                CreditLot.remaining > 0,
                CreditLot.expires_at <= as_of,
            )
            .order_by(CreditLot.expires_at, CreditLot.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).all()


# --- idempotency --------------------------------------------------------------------------


async def claim_key(
    session: AsyncSession, principal: str, key: str, fingerprint: str, locked_until: datetime
) -> bool:
    """Take a new idempotency key; False when the key exists already."""
    result = await session.execute(
        insert(IdempotencyKey)
        .values(principal=principal, key=key, fingerprint=fingerprint, locked_until=locked_until)
        .on_conflict_do_nothing()
        .returning(IdempotencyKey.key)
    )
    return result.scalar_one_or_none() is not None


async def lock_key(session: AsyncSession, principal: str, key: str) -> IdempotencyKey | None:
    """An existing idempotency key, locked."""
    return await session.scalar(
        select(IdempotencyKey)
        .where(IdempotencyKey.principal == principal, IdempotencyKey.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def finish_key(
    session: AsyncSession, principal: str, key: str, status: int, body: Any
) -> None:
    """Store the response a key's request produced."""
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.principal == principal, IdempotencyKey.key == key)
        .values(response_status=status, response_body=body, locked_until=None)
    )


async def release_key(session: AsyncSession, principal: str, key: str) -> None:
    """Forget a key whose request failed unexpectedly, so that a retry can run it."""
    await session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.principal == principal,
            IdempotencyKey.key == key,
            IdempotencyKey.response_status.is_(None),
        )
    )


async def delete_keys_before(session: AsyncSession, cutoff: datetime) -> int:
    """Drop finished idempotency keys created before ``cutoff``."""
    result = await session.execute(
        delete(IdempotencyKey)
        .where(IdempotencyKey.created_at < cutoff, IdempotencyKey.response_status.is_not(None))
        .returning(IdempotencyKey.key)
    )
    return len(result.all())


# --- audit --------------------------------------------------------------------------------


async def chain_page(
    session: AsyncSession, after: tuple[str, int] | None, limit: int
) -> Sequence[LedgerTransaction]:
    """Transactions in (chain, position) order, a page at a time."""
    query = (
        select(LedgerTransaction)
        .order_by(LedgerTransaction.chain_key, LedgerTransaction.chain_seq)
        .limit(limit)
    )
    if after is not None:
        query = query.where(
            func.row(LedgerTransaction.chain_key, LedgerTransaction.chain_seq) > func.row(*after)
        )
    return (await session.scalars(query)).all()


async def customer_balances_vs_postings(session: AsyncSession) -> Sequence[Any]:
    """Customer accounts whose stored balance differs from minus the sum of their postings."""
    posted = (
        select(Posting.ledger_account_id, func.sum(Posting.amount).label("total"))
        .group_by(Posting.ledger_account_id)
        .subquery()
    )
    return (
        await session.execute(
            select(LedgerAccount.id, LedgerAccount.balance, posted.c.total)
            .outerjoin(posted, posted.c.ledger_account_id == LedgerAccount.id)
            .where(
                LedgerAccount.kind == "customer",
                LedgerAccount.balance != -func.coalesce(posted.c.total, 0),
            )
            .limit(1)
        )
    ).all()


async def lots_vs_movements(session: AsyncSession) -> Sequence[Any]:
    """Lots whose stored remainder differs from the sum of their movements."""
    moved = (
        select(LotMovement.lot_id, func.sum(LotMovement.amount).label("total"))
        .group_by(LotMovement.lot_id)
        .subquery()
    )
    return (
        await session.execute(
            select(CreditLot.id, CreditLot.grant_id, CreditLot.remaining, moved.c.total)
            .outerjoin(moved, moved.c.lot_id == CreditLot.id)
            .where(CreditLot.remaining != func.coalesce(moved.c.total, 0))
            .limit(1)
        )
    ).all()


async def chain_heads(session: AsyncSession) -> dict[str, tuple[int, str | None]]:
    """Each chain owner's stored head (position and hash)."""
    rows = await session.execute(
        select(LedgerAccount.id, LedgerAccount.chain_seq, LedgerAccount.chain_hash).where(
            LedgerAccount.chain_seq > 0
        )
    )
    return {row[0]: (row[1], row[2]) for row in rows}
