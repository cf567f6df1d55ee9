"""The ledger's SQL. Functions run on the caller's session or connection; none commits.

Writes go through raw asyncpg on the group writer's connections: a write group opens, locks,
loads and writes with a handful of statements, whatever its size (the ORM's per-statement
overhead was most of a write's cost); reads use the ORM.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeAlias

import orjson
from sqlalchemy import case, delete, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from services.ledger.domain.book import Book, BookLot, Head
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


async def heads_vs_chains(session: AsyncSession) -> Sequence[Any]:
    """Chain heads (position and hash kept on a ledger account) that differ from their
    chain's last transaction: a chain whose tail was cut off, or a head moved by hand.

    Accounts that own no chain hold position 0 and no hash, as a chain with no transactions.
    """
    last = (
        select(LedgerTransaction.chain_seq, LedgerTransaction.hash)
        .where(LedgerTransaction.chain_key == LedgerAccount.id)
        .order_by(LedgerTransaction.chain_seq.desc())
        .limit(1)
        .lateral("last")
    )
    return (
        await session.execute(
            select(LedgerAccount.id, LedgerAccount.chain_seq, last.c.chain_seq, last.c.hash)
            .outerjoin(last, true())
            .where(
                or_(
                    LedgerAccount.chain_seq != func.coalesce(last.c.chain_seq, 0),
                    LedgerAccount.chain_hash.is_distinct_from(last.c.hash),
                )
            )
            .order_by(LedgerAccount.id)
            .limit(1)
        )
    ).all()


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


# --- the write path (asyncpg, on the group writer's own connection) ------------------------

# asyncpg ships no type information; this names what the write path is given.
Conn: TypeAlias = Any


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


@dataclass(frozen=True)
class DueAccount:
    """A ledger account with lots past expiry, and the programs those lots came from."""

    ledger_account_id: str
    unit: str
    programs: list[str | None]


# The lot columns the write path reads, in BookLot's order; the only text put into its SQL.
_LOT_COLUMNS = ", ".join(
    f"l.{name}"
    for name in (
        "id",
        "grant_id",
        "ledger_account_id",
        "customer_account_id",
        "unit",
        "amount",
        "remaining",
        "expires_at",
        "granted_at",
        "program_id",
        "tier",
    )
)


def key_lock_id(principal: str, key: str) -> int:
    """The advisory lock that a (caller, Idempotency-Key) pair holds while its request runs."""
    digest = hashlib.sha256(f"{principal}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


_OPEN_GROUP = """
    WITH ensured AS (
        INSERT INTO ledger.ledger_accounts (id, kind, unit, customer_account_id, program_id,
            balance)
        SELECT * FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
            $9::bigint[])
        ORDER BY 1
        ON CONFLICT DO NOTHING
    ),
    claimed AS MATERIALIZED (
        SELECT c.i, c.principal, c.key, pg_try_advisory_xact_lock(c.lock) AS held
        FROM unnest($1::bigint[], $2::text[], $3::text[]) WITH ORDINALITY
            AS c(lock, principal, key, i)
    )
    SELECT c.held, k.fingerprint, k.response_status, k.response_body
    FROM claimed AS c
    LEFT JOIN ledger.idempotency_keys AS k
        ON k.principal = c.principal AND k.key = c.key
        AND k.principal = ANY($2::text[]) AND k.key = ANY($3::text[])
    ORDER BY c.i
"""


async def open_group(
    conn: Conn, keys: Sequence[tuple[str, str]], accounts: Sequence[dict[str, Any]]
) -> list[tuple[bool, StoredResponse | None]]:
    """Start a write group in one round trip: create the ledger accounts it will post to that
    do not exist yet, hold its idempotency keys, and read what the held keys already answered.

    Per key: whether it is held (False: another request holds it) and its stored response.
    Accounts go in id order, so two groups creating the same ones cannot deadlock. The
    stored responses are read in the statement that takes the locks; a response committed in
    between is still kept from being written twice by the keys' primary key.
    """
    ordered = sorted({r["id"]: r for r in accounts}.values(), key=lambda r: r["id"])
    rows = await conn.fetch(
        _OPEN_GROUP,
        [key_lock_id(p, k) for p, k in keys],
        [p for p, _ in keys],
        [k for _, k in keys],
        [r["id"] for r in ordered],
        [r["kind"] for r in ordered],
        [r["unit"] for r in ordered],
        [r.get("customer_account_id") for r in ordered],
        [r.get("program_id") for r in ordered],
        [r.get("balance") for r in ordered],
    )
    return [
        (
            bool(row[0]),
            None if row[1] is None else StoredResponse(row[1], row[2], orjson.loads(row[3])),
        )
        for row in rows
    ]


async def lock_heads(conn: Conn, ledger_account_ids: Sequence[str]) -> list[Head]:
    """Chain owners' rows, locked until commit, in id order (so groups never deadlock)."""
    rows = await conn.fetch(
        "SELECT id, balance, chain_seq, chain_hash FROM ledger.ledger_accounts"
        " WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE",
        sorted(set(ledger_account_ids)),
    )
    return [Head(row[0], row[1], row[2], row[3]) for row in rows]


async def load_lots(
    conn: Conn,
    *,
    now: datetime,
    fifo: dict[str, int],
    due: dict[str, datetime],
    created_by: Sequence[uuid.UUID] = (),
    ids: Sequence[uuid.UUID] = (),
) -> list[BookLot]:
    """The lots a group's writes can touch.

    ``fifo``: for each account, its unexpired lots in redemption order (expiry, grant time,
    id) up to the first that covers the amount (a customer may hold many lots; the writes
    cannot reach past those). ``due``: each account's lots with credit left that expire by
    its time. Plus lots by creating transaction or id. Read after the accounts' heads are
    locked: every change to a lot is made under its account's head lock.
    """
    rows = await conn.fetch(
        f"""
        WITH covering AS (
            SELECT id FROM (
                SELECT l.id, n.needed,
                    sum(l.remaining) OVER (PARTITION BY l.ledger_account_id
                        ORDER BY l.expires_at, l.granted_at, l.id) - l.remaining AS before
                FROM ledger.lots AS l
                JOIN unnest($1::text[], $2::bigint[]) AS n(account, needed)
                    ON l.ledger_account_id = n.account
                WHERE l.ledger_account_id = ANY($1::text[])  -- see _WRITE
                    AND l.remaining > 0 AND l.expires_at > $3
            ) AS running
            WHERE before < needed
        )
        SELECT {_LOT_COLUMNS} FROM ledger.lots AS l WHERE l.id IN (SELECT id FROM covering)
        UNION
        SELECT {_LOT_COLUMNS} FROM ledger.lots AS l
        JOIN unnest($4::text[], $5::timestamptz[]) AS d(account, as_of)
            ON l.ledger_account_id = d.account AND l.remaining > 0 AND l.expires_at <= d.as_of
        WHERE l.ledger_account_id = ANY($4::text[])
        UNION
        SELECT {_LOT_COLUMNS} FROM ledger.lots AS l
        WHERE l.id = ANY($6::uuid[]) OR l.grant_id = ANY($7::uuid[])
        """,  # noqa: S608 (only the constant column list is interpolated)
        list(fifo),
        list(fifo.values()),
        now,
        list(due),
        list(due.values()),
        list(ids),
        list(created_by),
    )
    return [BookLot(*row) for row in rows]


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


async def transaction_rows(conn: Conn, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, TxRow]:
    """Transactions with their postings and lot movements, by id."""
    if not ids:
        return {}
    rows = await conn.fetch(
        "SELECT t.id, t.kind, t.customer_account_id, t.offer_id, t.program_id, t.invoice_id,"
        " t.tier,"
        " (SELECT coalesce(array_agg(row(p.ledger_account_id, p.unit, p.amount) ORDER BY p.id),"
        "  '{}') FROM ledger.postings p WHERE p.transaction_id = t.id),"
        " (SELECT coalesce(array_agg(row(m.lot_id, m.amount) ORDER BY m.id), '{}')"
        "  FROM ledger.lot_movements m WHERE m.transaction_id = t.id)"
        " FROM ledger.transactions t WHERE t.id = ANY($1::uuid[])",
        list(set(ids)),
    )
    return {
        row[0]: TxRow(
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
        for row in rows
    }


async def reversed_among(conn: Conn, ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """Which of these transactions have been reversed (read under their heads' locks)."""
    if not ids:
        return []
    rows = await conn.fetch(
        "SELECT reverses_id FROM ledger.transactions WHERE reverses_id = ANY($1::uuid[])",
        list(set(ids)),
    )
    return [row[0] for row in rows]


# The ``= ANY`` beside each ``FROM unnest`` join is redundant for the result but hands the
# planner an index condition: without it, a join against a growing table was planned as a
# hash join over a full scan of it.
_WRITE = """
    WITH tx AS (
        INSERT INTO ledger.transactions (id, kind, idempotency_key, effective_at,
            customer_account_id, offer_id, program_id, invoice_id, tier, reverses_id, metadata,
            chain_key, chain_seq, prev_hash, hash)
        SELECT id, kind, key, at, acct, offer, program, invoice, tier, reverses, meta::jsonb,
            chain, seq, prev, hash
        FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::text[],
            $6::text[], $7::text[], $8::text[], $9::text[], $10::uuid[], $11::text[],
            $12::text[], $13::bigint[], $14::text[], $15::text[])
            AS t(id, kind, key, at, acct, offer, program, invoice, tier, reverses, meta,
                 chain, seq, prev, hash)
    ),
    postings AS (
        INSERT INTO ledger.postings (transaction_id, ledger_account_id, unit, amount, effective_at)
        SELECT * FROM unnest($16::uuid[], $17::text[], $18::text[], $19::bigint[],
            $20::timestamptz[])
    ),
    new_lots AS (
        INSERT INTO ledger.lots (id, grant_id, ledger_account_id, customer_account_id, unit,
            amount, remaining, expires_at, granted_at, program_id, tier)
        SELECT * FROM unnest($21::uuid[], $22::uuid[], $23::text[], $24::text[], $25::text[],
            $26::bigint[], $27::bigint[], $28::timestamptz[], $29::timestamptz[], $30::text[],
            $31::text[])
    ),
    movements AS (
        INSERT INTO ledger.lot_movements (lot_id, transaction_id, amount)
        SELECT * FROM unnest($32::uuid[], $33::uuid[], $34::bigint[])
    ),
    lots_changed AS (
        UPDATE ledger.lots AS l SET remaining = c.remaining
        FROM unnest($35::uuid[], $36::bigint[]) AS c(id, remaining)
        WHERE l.id = c.id AND l.id = ANY($35::uuid[])
    ),
    keys AS (
        INSERT INTO ledger.idempotency_keys (principal, key, fingerprint, response_status,
            response_body)
        SELECT p, k, f, s, b::jsonb FROM unnest($37::text[], $38::text[], $39::text[],
            $40::int[], $41::text[]) AS r(p, k, f, s, b)
    )
    UPDATE ledger.ledger_accounts AS a
    SET balance = h.balance, chain_seq = h.seq, chain_hash = h.hash
    FROM unnest($42::text[], $43::bigint[], $44::bigint[], $45::text[]) AS h(id, balance, seq, hash)
    WHERE a.id = h.id AND a.id = ANY($42::text[])
"""


@dataclass(frozen=True)
class KeptResponse:
    """A response to keep under its idempotency key."""

    principal: str
    key: str
    fingerprint: str
    status: int
    body: Any


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows to the column arrays that ``unnest`` takes."""
    return [[row[i] for row in rows] for i in range(width)] if rows else [[]] * width


async def write_book(conn: Conn, book: Book, kept: Sequence[KeptResponse]) -> None:
    """Write a group's entries, new lots, changed lots and heads, and kept responses, in one
    statement."""
    txs = [
        (
            f["id"],
            f["kind"],
            f["idempotency_key"],
            f["effective_at"],
            f["customer_account_id"],
            f["offer_id"],
            f["program_id"],
            f["invoice_id"],
            f["tier"],
            f["reverses_id"],
            orjson.dumps(f["metadata"]).decode(),
            f["chain_key"],
            f["chain_seq"],
            f["prev_hash"],
            f["hash"],
        )
        for f in (e.fields for e in book.entries)
    ]
    postings = [
        (e.fields["id"], p.account, p.unit, p.amount, e.fields["effective_at"])
        for e in book.entries
        for p in e.postings
    ]
    created = set(book.new_lots)
    lots = [
        (
            lot.id,
            lot.grant_id,
            lot.ledger_account_id,
            lot.customer_account_id,
            lot.unit,
            lot.amount,
            lot.remaining,
            lot.expires_at,
            lot.granted_at,
            lot.program_id,
            lot.tier,
        )
        for lot in (book.lots[i] for i in book.new_lots)
    ]
    movements = [(m.lot_id, e.fields["id"], m.amount) for e in book.entries for m in e.movements]
    changed = [(i, book.lots[i].remaining) for i in sorted(book.changed_lots - created)]
    keys = [
        (r.principal, r.key, r.fingerprint, r.status, orjson.dumps(r.body).decode()) for r in kept
    ]
    heads = [
        (h.id, h.balance, h.chain_seq, h.chain_hash)
        for h in sorted((book.heads[i] for i in book.changed_heads), key=lambda h: h.id)
    ]
    await conn.execute(
        _WRITE,
        *_columns(txs, 15),
        *_columns(postings, 5),
        *_columns(lots, 11),
        *_columns(movements, 3),
        *_columns(changed, 2),
        *_columns(keys, 5),
        *_columns(heads, 4),
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
