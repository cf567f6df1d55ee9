"""A write group's SQL before planning (asyncpg, on the group writer's own connections): open
the group, lock its heads, load its lots and the originals of its reversals."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

from services.ledger.domain.book import BookLot, Head, TxRow
from shared.db import json_loads

# asyncpg ships no type information; this names what the write path is given.
Conn: TypeAlias = Any


@dataclass(frozen=True)
class StoredResponse:
    """What an idempotency key already holds."""

    fingerprint: str
    status: int
    body: Any


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
        "offer_id",
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
            None if row[1] is None else StoredResponse(row[1], row[2], json_loads(row[3])),
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
    ``tests/db/test_ledger_sql_rules.py`` checks the two agree. ``due``: each account's lots with
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
                WHERE l.ledger_account_id = ANY($1::text[])  -- see repository.book._WRITE
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
