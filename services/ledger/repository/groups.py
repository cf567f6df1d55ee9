"""The write path's SQL (asyncpg, on the group writer's own connections): open a group,
lock its heads, load its lots and originals, write everything it planned in one statement."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

import orjson

from services.ledger.domain.book import Book, BookLot, Head, TxRow

Conn: TypeAlias = Any


@dataclass(frozen=True)
class StoredResponse:
    """What an idempotency key already holds."""

    fingerprint: str
    status: int
    body: Any


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

    ``fifo``: for each account, its unexpired lots in redemption order up to the first that
    covers the amount (a customer may hold many lots; the writes cannot reach past those).
    The order is ``domain.lots.allocate``'s, repeated here so that only those lots load;
    ``tests/db/test_ledger_fifo.py`` checks the two agree. ``due``: each account's lots with
    credit left that expire by its time. Plus lots by creating transaction or id. Read after
    the accounts' heads are locked: every change to a lot is made under its account's head
    lock.
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


class Named:
    """A statement written with ``:name`` parameters, as asyncpg takes it (``$1``, ``$2``...).

    A name used twice is one parameter; ``::type`` casts are left alone.
    """

    _PARAMETER = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")

    def __init__(self, text: str) -> None:
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match[1] not in names:
                names.append(match[1])
            return f"${names.index(match[1]) + 1}"

        self.sql = self._PARAMETER.sub(number, text)
        self.names = tuple(names)

    def args(self, values: dict[str, Any]) -> list[Any]:
        """The values in the statement's parameter order; every name exactly once."""
        if values.keys() != set(self.names):
            raise ValueError(f"parameters differ: {sorted(values.keys() ^ set(self.names))}")
        return [values[name] for name in self.names]


# The ``= ANY`` beside each ``FROM unnest`` join is redundant for the result but hands the
# planner an index condition: without it, a join against a growing table was planned as a
# hash join over a full scan of it.
_WRITE = Named("""
    WITH tx AS (
        INSERT INTO ledger.transactions (id, kind, idempotency_key, effective_at,
            customer_account_id, offer_id, program_id, invoice_id, tier, reverses_id, metadata,
            chain_key, chain_seq, prev_hash, hash)
        SELECT id, kind, key, at, acct, offer, program, invoice, tier, reverses, meta::jsonb,
            chain, seq, prev, hash
        FROM unnest(:tx_id::uuid[], :tx_kind::text[], :tx_key::text[], :tx_at::timestamptz[],
            :tx_account::text[], :tx_offer::text[], :tx_program::text[], :tx_invoice::text[],
            :tx_tier::text[], :tx_reverses::uuid[], :tx_metadata::text[], :tx_chain::text[],
            :tx_seq::bigint[], :tx_prev::text[], :tx_hash::text[])
            AS t(id, kind, key, at, acct, offer, program, invoice, tier, reverses, meta,
                 chain, seq, prev, hash)
    ),
    postings AS (
        INSERT INTO ledger.postings (transaction_id, ledger_account_id, unit, amount, effective_at)
        SELECT * FROM unnest(:posting_tx::uuid[], :posting_account::text[],
            :posting_unit::text[], :posting_amount::bigint[], :posting_at::timestamptz[])
    ),
    new_lots AS (
        INSERT INTO ledger.lots (id, grant_id, ledger_account_id, customer_account_id, unit,
            amount, remaining, expires_at, granted_at, program_id, tier)
        SELECT * FROM unnest(:lot_id::uuid[], :lot_grant::uuid[], :lot_account::text[],
            :lot_customer::text[], :lot_unit::text[], :lot_amount::bigint[],
            :lot_remaining::bigint[], :lot_expires::timestamptz[], :lot_granted::timestamptz[],
            :lot_program::text[], :lot_tier::text[])
    ),
    movements AS (
        INSERT INTO ledger.lot_movements (lot_id, transaction_id, amount)
        SELECT * FROM unnest(:move_lot::uuid[], :move_tx::uuid[], :move_amount::bigint[])
    ),
    lots_changed AS (
        UPDATE ledger.lots AS l SET remaining = c.remaining
        FROM unnest(:changed_lot::uuid[], :changed_remaining::bigint[]) AS c(id, remaining)
        WHERE l.id = c.id AND l.id = ANY(:changed_lot::uuid[])
    ),
    keys AS (
        INSERT INTO ledger.idempotency_keys (principal, key, fingerprint, response_status,
            response_body)
        SELECT p, k, f, s, b::jsonb FROM unnest(:key_principal::text[], :key_key::text[],
            :key_fingerprint::text[], :key_status::int[], :key_body::text[]) AS r(p, k, f, s, b)
    )
    UPDATE ledger.ledger_accounts AS a
    SET balance = h.balance, chain_seq = h.seq, chain_hash = h.hash
    FROM unnest(:head_id::text[], :head_balance::bigint[], :head_seq::bigint[],
        :head_hash::text[]) AS h(id, balance, seq, hash)
    WHERE a.id = h.id AND a.id = ANY(:head_id::text[])
""")

# Each group of the statement's parameters, in the order its rows are built below.
_TX = (
    "id",
    "kind",
    "key",
    "at",
    "account",
    "offer",
    "program",
    "invoice",
    "tier",
    "reverses",
    "metadata",
    "chain",
    "seq",
    "prev",
    "hash",
)
_POSTING = ("tx", "account", "unit", "amount", "at")
_LOT = (
    "id",
    "grant",
    "account",
    "customer",
    "unit",
    "amount",
    "remaining",
    "expires",
    "granted",
    "program",
    "tier",
)
_MOVE = ("lot", "tx", "amount")
_CHANGED = ("lot", "remaining")
_KEY = ("principal", "key", "fingerprint", "status", "body")
_HEAD = ("id", "balance", "seq", "hash")


@dataclass(frozen=True)
class KeptResponse:
    """A response to keep under its idempotency key."""

    principal: str
    key: str
    fingerprint: str
    status: int
    body: Any


def _columns(
    prefix: str, names: Sequence[str], rows: Sequence[Sequence[Any]]
) -> dict[str, list[Any]]:
    """Rows to the column arrays that ``unnest`` takes, by parameter name."""
    return {f"{prefix}_{name}": [row[i] for row in rows] for i, name in enumerate(names)}


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
    columns = {
        **_columns("tx", _TX, txs),
        **_columns("posting", _POSTING, postings),
        **_columns("lot", _LOT, lots),
        **_columns("move", _MOVE, movements),
        **_columns("changed", _CHANGED, changed),
        **_columns("key", _KEY, keys),
        **_columns("head", _HEAD, heads),
    }
    await conn.execute(_WRITE.sql, *_WRITE.args(columns))
