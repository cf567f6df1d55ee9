"""The ledger's SQL. Functions run on the caller's session or connection; none commits.

Writes go through raw asyncpg on the session's connection, one data-modifying statement per
transaction (the ORM's per-statement overhead was most of a write's cost); reads use the ORM.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeAlias

import orjson
from sqlalchemy import case, delete, func, select
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


# --- lots ---------------------------------------------------------------------------------


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


# --- idempotency ---


async def delete_keys_before(session: AsyncSession, cutoff: datetime) -> int:
    """Drop idempotency keys created before ``cutoff``."""
    result = await session.execute(
        delete(IdempotencyKey)
        .where(IdempotencyKey.created_at < cutoff)
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


# --- the write path (asyncpg, on the session's connection) --------------------------------

# asyncpg ships no type information; this names what the write path is given.
Conn: TypeAlias = Any


@dataclass(frozen=True)
class Head:
    """A chain owner's locked row: its balance (customers only) and chain head."""

    id: str
    balance: int | None
    chain_seq: int
    chain_hash: str | None


@dataclass(frozen=True)
class LotRow:
    """A credit lot as the write path sees it."""

    id: uuid.UUID
    grant_id: uuid.UUID
    ledger_account_id: str
    customer_account_id: str
    unit: str
    amount: int
    remaining: int
    expires_at: datetime
    granted_at: datetime
    program_id: str | None
    tier: str | None


@dataclass(frozen=True)
class StoredResponse:
    """What an idempotency key already holds."""

    fingerprint: str
    status: int
    body: Any


@dataclass(frozen=True)
class TxRow:
    """A stored transaction's columns, with its postings and movements."""

    id: uuid.UUID
    kind: str
    customer_account_id: str | None
    offer_id: str | None
    program_id: str | None
    invoice_id: str | None
    tier: str | None
    postings: list[tuple[str, str, int]]
    movements: list[tuple[uuid.UUID, int]]


_LOT_COLUMNS = (
    "id, grant_id, ledger_account_id, customer_account_id, unit, amount, remaining, expires_at,"
    " granted_at, program_id, tier"
)
# Lot queries of the write path; only the constant column list above is interpolated.
_OPEN_LOTS = f"""
    SELECT {_LOT_COLUMNS} FROM ledger.lots WHERE ledger_account_id = $1 AND remaining > 0
    ORDER BY expires_at, granted_at, id FOR UPDATE
"""  # noqa: S608
_LOTS_BY_ID = f"""
    SELECT {_LOT_COLUMNS} FROM ledger.lots WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE
"""  # noqa: S608
_LOT_CREATED_BY = f"""
    SELECT {_LOT_COLUMNS} FROM ledger.lots WHERE grant_id = $1 FOR UPDATE
"""  # noqa: S608
_DUE_LOTS = f"""
    SELECT {_LOT_COLUMNS} FROM ledger.lots
    WHERE ledger_account_id = $1 AND remaining > 0 AND expires_at <= $2
    ORDER BY expires_at, id FOR UPDATE
"""  # noqa: S608


async def try_lock_key(conn: Conn, principal: str, key: str) -> bool:
    """Hold the key for this transaction; False while another request holds it."""
    digest = hashlib.sha256(f"{principal}\0{key}".encode()).digest()
    lock_id = int.from_bytes(digest[:8], "big", signed=True)
    return bool(await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", lock_id))


async def stored_response(conn: Conn, principal: str, key: str) -> StoredResponse | None:
    """The response a key already holds (read after taking its lock)."""
    row = await conn.fetchrow(
        "SELECT fingerprint, response_status, response_body FROM ledger.idempotency_keys"
        " WHERE principal = $1 AND key = $2",
        principal,
        key,
    )
    if row is None:
        return None
    # SQLAlchemy's asyncpg dialect decodes jsonb on its connections (and takes JSON text).
    return StoredResponse(row[0], row[1], row[2])


async def store_response(
    conn: Conn, principal: str, key: str, fingerprint: str, status: int, body: Any
) -> None:
    """Keep the response of the request a key ran."""
    await conn.execute(
        "INSERT INTO ledger.idempotency_keys"
        " (principal, key, fingerprint, response_status, response_body)"
        " VALUES ($1, $2, $3, $4, $5::jsonb)",
        principal,
        key,
        fingerprint,
        status,
        orjson.dumps(body).decode(),
    )


async def ensure_accounts(conn: Conn, rows: Sequence[dict[str, Any]]) -> None:
    """Create ledger accounts that do not exist yet (customer ones start at balance 0)."""
    ordered = sorted(rows, key=lambda r: r["id"])
    await conn.execute(
        "INSERT INTO ledger.ledger_accounts (id, kind, unit, customer_account_id, program_id,"
        " balance) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
        " $5::text[], $6::bigint[]) ORDER BY 1 ON CONFLICT DO NOTHING",
        [r["id"] for r in ordered],
        [r["kind"] for r in ordered],
        [r["unit"] for r in ordered],
        [r.get("customer_account_id") for r in ordered],
        [r.get("program_id") for r in ordered],
        [r.get("balance") for r in ordered],
    )


async def lock_head(conn: Conn, ledger_account_id: str) -> Head | None:
    """A chain owner's row, locked until commit."""
    row = await conn.fetchrow(
        "SELECT id, balance, chain_seq, chain_hash FROM ledger.ledger_accounts"
        " WHERE id = $1 FOR UPDATE",
        ledger_account_id,
    )
    return None if row is None else Head(row[0], row[1], row[2], row[3])


async def lock_open_lots(conn: Conn, ledger_account_id: str) -> list[LotRow]:
    """An account's lots with credit left, locked."""
    rows = await conn.fetch(_OPEN_LOTS, ledger_account_id)
    return [LotRow(*row) for row in rows]


async def lock_lots(conn: Conn, lot_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, LotRow]:
    """Lots by id, locked."""
    rows = await conn.fetch(_LOTS_BY_ID, sorted(lot_ids))
    return {row[0]: LotRow(*row) for row in rows}


async def lock_lot_created_by(conn: Conn, transaction_id: uuid.UUID) -> LotRow | None:
    """The lot a transaction created (a grant, or an adjustment crediting a customer), locked."""
    row = await conn.fetchrow(_LOT_CREATED_BY, transaction_id)
    return None if row is None else LotRow(*row)


async def lock_due_lots(conn: Conn, ledger_account_id: str, as_of: datetime) -> list[LotRow]:
    """An account's lots past expiry with credit left, locked."""
    rows = await conn.fetch(
        _DUE_LOTS,
        ledger_account_id,
        as_of,
    )
    return [LotRow(*row) for row in rows]


async def due_lot_accounts(conn: Conn, as_of: datetime, limit: int) -> list[str]:
    """Ledger accounts with lots past expiry and credit left."""
    rows = await conn.fetch(
        "SELECT DISTINCT ledger_account_id FROM ledger.lots WHERE remaining > 0"
        " AND expires_at <= $1 ORDER BY 1 LIMIT $2",
        as_of,
        limit,
    )
    return [row[0] for row in rows]


async def transaction_row(conn: Conn, transaction_id: uuid.UUID) -> TxRow | None:
    """A transaction with its postings and lot movements."""
    row = await conn.fetchrow(
        "SELECT t.id, t.kind, t.customer_account_id, t.offer_id, t.program_id, t.invoice_id,"
        " t.tier,"
        " (SELECT coalesce(array_agg(row(p.ledger_account_id, p.unit, p.amount) ORDER BY p.id),"
        "  '{}') FROM ledger.postings p WHERE p.transaction_id = t.id),"
        " (SELECT coalesce(array_agg(row(m.lot_id, m.amount) ORDER BY m.id), '{}')"
        "  FROM ledger.lot_movements m WHERE m.transaction_id = t.id)"
        " FROM ledger.transactions t WHERE t.id = $1",
        transaction_id,
    )
    if row is None:
        return None
    return TxRow(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        [(p[0], p[1], p[2]) for p in row[7]],
        [(m[0], m[1]) for m in row[8]],
    )


async def is_reversed(conn: Conn, transaction_id: uuid.UUID) -> bool:
    """Whether a reversal of this transaction exists."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM ledger.transactions WHERE reverses_id = $1)",
            transaction_id,
        )
    )


_WRITE = """
    WITH tx AS (
        INSERT INTO ledger.transactions (id, kind, idempotency_key, effective_at,
            customer_account_id, offer_id, program_id, invoice_id, tier, reverses_id, metadata,
            chain_key, chain_seq, prev_hash, hash)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13, $14, $15)
    ),
    postings AS (
        INSERT INTO ledger.postings (transaction_id, ledger_account_id, unit, amount, effective_at)
        SELECT $1, a, u, m, $4 FROM unnest($16::text[], $17::text[], $18::bigint[]) AS p(a, u, m)
    ),
    new_lot AS (
        INSERT INTO ledger.lots (id, grant_id, ledger_account_id, customer_account_id, unit,
            amount, remaining, expires_at, granted_at, program_id, tier)
        SELECT l.id, $1, $12, $5, l.unit, l.amount, l.amount, l.expires_at, $4, $7, $9
        FROM (SELECT $19::uuid AS id, $20::text AS unit, $21::bigint AS amount,
                     $22::timestamptz AS expires_at) AS l
        WHERE l.id IS NOT NULL
    ),
    movements AS (
        INSERT INTO ledger.lot_movements (lot_id, transaction_id, amount)
        SELECT lot, $1, m FROM unnest($23::uuid[], $24::bigint[]) AS mv(lot, m)
    ),
    lots_changed AS (
        UPDATE ledger.lots AS l SET remaining = l.remaining + c.m
        FROM unnest($25::uuid[], $26::bigint[]) AS c(lot, m) WHERE l.id = c.lot
    )
    UPDATE ledger.ledger_accounts
    SET balance = balance + $27, chain_seq = $13, chain_hash = $15
    WHERE id = $12
"""


@dataclass(frozen=True)
class NewLot:
    """The lot a grant creates."""

    id: uuid.UUID
    unit: str
    amount: int
    expires_at: datetime


async def write_transaction(
    conn: Conn,
    *,
    row: dict[str, Any],
    postings: Sequence[tuple[str, str, int]],
    movements: Sequence[tuple[uuid.UUID, int]],
    lot_changes: Sequence[tuple[uuid.UUID, int]],
    new_lot: NewLot | None,
    balance_change: int,
) -> None:
    """Insert a transaction with its postings, lot and movements, change existing lots'
    remainders, and move its chain owner's head and balance, in one statement."""
    await conn.execute(
        _WRITE,
        row["id"],
        row["kind"],
        row["idempotency_key"],
        row["effective_at"],
        row["customer_account_id"],
        row["offer_id"],
        row["program_id"],
        row["invoice_id"],
        row["tier"],
        row["reverses_id"],
        orjson.dumps(row["metadata"]).decode(),
        row["chain_key"],
        row["chain_seq"],
        row["prev_hash"],
        row["hash"],
        [p[0] for p in postings],
        [p[1] for p in postings],
        [p[2] for p in postings],
        new_lot.id if new_lot else None,
        new_lot.unit if new_lot else None,
        new_lot.amount if new_lot else None,
        new_lot.expires_at if new_lot else None,
        [m[0] for m in movements],
        [m[1] for m in movements],
        [c[0] for c in lot_changes],
        [c[1] for c in lot_changes],
        balance_change,
    )


# --- statements and reports (ORM session; read-only) ----------------------------------------


async def statement_rows(
    session: AsyncSession,
    ledger_account_id: str,
    start: datetime,
    end: datetime,
    after: tuple[datetime, int] | None,
    limit: int,
) -> Sequence[Any]:
    """An account's postings in [start, end), in (time, id) order, with their transactions."""
    query = (
        select(
            Posting.id,
            Posting.amount,
            Posting.effective_at,
            LedgerTransaction.id,
            LedgerTransaction.kind,
            LedgerTransaction.offer_id,
            LedgerTransaction.invoice_id,
            LedgerTransaction.program_id,
            LedgerTransaction.reverses_id,
        )
        .join(LedgerTransaction, LedgerTransaction.id == Posting.transaction_id)
        .where(
            Posting.ledger_account_id == ledger_account_id,
            Posting.effective_at >= start,
            Posting.effective_at < end,
        )
        .order_by(Posting.effective_at, Posting.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(func.row(Posting.effective_at, Posting.id) > func.row(*after))
    return (await session.execute(query)).all()


async def posted_before(
    session: AsyncSession, ledger_account_id: str, at: datetime, posting_id: int | None = None
) -> int:
    """The sum of an account's postings before ``at`` (or up to a posting at that time)."""
    position = Posting.effective_at < at
    if posting_id is not None:
        position = func.row(Posting.effective_at, Posting.id) <= func.row(at, posting_id)
    total = await session.scalar(
        select(func.coalesce(func.sum(Posting.amount), 0)).where(
            Posting.ledger_account_id == ledger_account_id, position
        )
    )
    return int(total or 0)


async def liability(session: AsyncSession, now: datetime) -> Sequence[Any]:
    """Unredeemed, unexpired-or-unswept credit by unit, program, tier and age bucket."""
    age_days = func.extract("day", now - CreditLot.granted_at)
    bucket = case(
        (age_days < 30, "0-29"),
        (age_days < 60, "30-59"),
        (age_days < 90, "60-89"),
        else_="90+",
    )
    return (
        await session.execute(
            select(
                CreditLot.unit,
                CreditLot.program_id,
                CreditLot.tier,
                bucket,
                func.sum(CreditLot.remaining),
            )
            .where(CreditLot.remaining > 0)
            .group_by(CreditLot.unit, CreditLot.program_id, CreditLot.tier, bucket)
        )
    ).all()


async def customer_postings_total(session: AsyncSession) -> dict[str, int]:
    """Minus the sum of every customer account's postings, by unit: the whole liability."""
    rows = await session.execute(
        select(Posting.unit, -func.sum(Posting.amount))
        .join(LedgerAccount, LedgerAccount.id == Posting.ledger_account_id)
        .where(LedgerAccount.kind == "customer")
        .group_by(Posting.unit)
    )
    return {unit: int(total) for unit, total in rows.all()}


async def expiring(session: AsyncSession, now: datetime, days: Sequence[int]) -> Sequence[Any]:
    """Credit left in lots expiring within each window, by unit."""
    columns = [
        func.coalesce(
            func.sum(CreditLot.remaining).filter(CreditLot.expires_at <= now + timedelta(days=d)),
            0,
        )
        for d in days
    ]
    return (
        await session.execute(
            select(CreditLot.unit, *columns)
            .where(CreditLot.remaining > 0, CreditLot.expires_at > now)
            .group_by(CreditLot.unit)
        )
    ).all()


async def monthly_by_kind(
    session: AsyncSession, account_kind: str, *, by_program: bool
) -> Sequence[Any]:
    """Minus the postings on one kind of system account, by month, unit (and program)."""
    month = func.to_char(func.date_trunc("month", Posting.effective_at), "YYYY-MM")
    groups = [month, Posting.unit]
    if by_program:
        groups.append(LedgerAccount.program_id)
    return (
        await session.execute(
            select(*groups, -func.sum(Posting.amount))
            .join(LedgerAccount, LedgerAccount.id == Posting.ledger_account_id)
            .where(LedgerAccount.kind == account_kind)
            .group_by(*groups)
            .order_by(*groups)
        )
    ).all()
