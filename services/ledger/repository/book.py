"""Writing what a group's ``Book`` ends with (entries, new and changed lots, heads, kept
responses) in one statement, on the group writer's own connection."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from services.ledger.domain.book import Book
from services.ledger.repository.groups import Conn
from shared.contracts import CREDIT_MOVED


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
            amount, remaining, expires_at, granted_at, program_id, tier, offer_id)
        SELECT * FROM unnest(:lot_id::uuid[], :lot_grant::uuid[], :lot_account::text[],
            :lot_customer::text[], :lot_unit::text[], :lot_amount::bigint[],
            :lot_remaining::bigint[], :lot_expires::timestamptz[], :lot_granted::timestamptz[],
            :lot_program::text[], :lot_tier::text[], :lot_offer::text[])
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
    outbox AS (
        INSERT INTO ledger.outbox (message_id, destination, topic, payload, request_id)
        SELECT m, d, t, p::jsonb, r FROM unnest(:out_message::uuid[], :out_destination::text[],
            :out_topic::text[], :out_payload::text[], :out_request::text[]) AS o(m, d, t, p, r)
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
    "offer",
)
_MOVE = ("lot", "tx", "amount")
_CHANGED = ("lot", "remaining")
_KEY = ("principal", "key", "fingerprint", "status", "body")
_OUT = ("message", "destination", "topic", "payload", "request")
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


async def write_book(
    conn: Conn,
    book: Book,
    kept: Sequence[KeptResponse],
    request_ids: Mapping[uuid.UUID, str | None] | None = None,
) -> None:
    """Write a group's entries, new lots, changed lots and heads, kept responses, and the
    ``credit.moved`` messages of offers' lots (to the outbox, with the request that made each
    transaction, from ``request_ids`` by transaction id), in one statement."""
    origins = request_ids or {}
    messages = [
        (
            uuid.uuid4(),
            "offers",
            CREDIT_MOVED,
            orjson.dumps(payload).decode(),
            origins.get(e.fields["id"]),
        )
        for e in book.entries
        for payload in e.credit_moves
    ]
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
            lot.offer_id,
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
        **_columns("out", _OUT, messages),
        **_columns("head", _HEAD, heads),
    }
    await conn.execute(_WRITE.sql, *_WRITE.args(columns))
