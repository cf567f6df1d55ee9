"""Every transaction that moves an offer's lot writes its ``credit.moved`` message to the
ledger's outbox in the same database transaction; other lots write nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson
import pytest

from services.ledger.domain.writes import Expiry, Outcome, WriteOp
from services.ledger.group_writer import apply_each, apply_group
from services.ledger.schemas import GrantIn, RedemptionIn, ReversalIn
from shared.contracts import CREDIT_MOVED, CreditMoved
from shared.db import driver_dsn, service_url


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(driver_dsn(service_url(database_url, "ledger")))
    try:
        yield connection
    finally:
        await connection.close()


EXPIRES = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)


def grant(account_id: str, amount: int, offer_id: str | None, days: int = 30) -> GrantIn:
    return GrantIn(
        account_id=account_id,
        unit="USD",
        amount=amount,
        expires_at=EXPIRES + timedelta(days=days - 30),
        program_id="offers-test",
        offer_id=offer_id,
    )


def keyed(body: WriteOp.Body, request_id: str | None = None) -> WriteOp:
    return WriteOp(body, "credit-test", uuid.uuid4().hex, "/v1/test", request_id)


async def told(conn: asyncpg.Connection, offer_id: str) -> list[CreditMoved]:
    """The credit.moved messages of one offer in the outbox, oldest first."""
    rows = await conn.fetch(
        "SELECT destination, topic, payload FROM ledger.outbox"
        " WHERE payload->>'offer_id' = $1 ORDER BY id",
        offer_id,
    )
    assert {(r["destination"], r["topic"]) for r in rows} <= {("offers", CREDIT_MOVED)}
    return [CreditMoved.model_validate(orjson.loads(r["payload"])) for r in rows]


async def applied(conn: asyncpg.Connection, *ops: WriteOp) -> list[Outcome]:
    outcomes = await apply_group(conn, list(ops))
    assert all(o.status in (200, 201) for o in outcomes), [o.body for o in outcomes]
    return outcomes


async def test_a_grant_redemption_its_reversal_and_the_revoke_each_tell_offers(
    conn: asyncpg.Connection,
) -> None:
    account, offer = uuid.uuid4().hex, f"offer-{uuid.uuid4().hex}"
    (granted,) = await applied(conn, keyed(grant(account, 500, offer), "req-grant"))
    tx = granted.body["transaction"]
    (moved,) = await told(conn, offer)
    assert moved.kind == "grant"
    assert (moved.transaction_id, moved.hash) == (uuid.UUID(tx["id"]), tx["hash"])
    assert (moved.amount_minor, moved.remaining_minor, moved.unit) == (500, 500, "USD")
    assert moved.expires_at == EXPIRES
    assert moved.invoice_id is None
    request_id = await conn.fetchval(
        "SELECT request_id FROM ledger.outbox WHERE payload->>'transaction_id' = $1", tx["id"]
    )
    assert request_id == "req-grant"

    redeem = RedemptionIn(account_id=account, unit="USD", amount=200, invoice_id="in_1")
    (redeemed,) = await applied(conn, keyed(redeem))
    reverse = ReversalIn(transaction_id=redeemed.body["transaction"]["id"], reason="refund")
    (given_back,) = await applied(conn, keyed(reverse))
    redeem = RedemptionIn(account_id=account, unit="USD", amount=350, invoice_id="in_2")
    await applied(conn, keyed(redeem))
    revoke = ReversalIn(transaction_id=tx["id"], reason="revoked")
    (revoked,) = await applied(conn, keyed(revoke))

    moves = await told(conn, offer)
    assert [(m.kind, m.amount_minor, m.remaining_minor, m.invoice_id) for m in moves] == [
        ("grant", 500, 500, None),
        ("redemption", 200, 300, "in_1"),
        ("redemption_reversal", 200, 500, "in_1"),
        ("redemption", 350, 150, "in_2"),
        ("reversal", 150, 0, None),
    ]
    assert moves[2].transaction_id == uuid.UUID(given_back.body["transaction"]["id"])
    assert moves[4].hash == revoked.body["transaction"]["hash"]
    assert all(m.expires_at is None for m in moves[1:])
    assert all(m.effective_at is not None for m in moves)


async def test_a_redemption_across_lots_tells_only_of_the_offers_lot(
    conn: asyncpg.Connection,
) -> None:
    account, offer = uuid.uuid4().hex, f"offer-{uuid.uuid4().hex}"
    # The plain lot expires first, so the redemption takes all of it and part of the offer's.
    await applied(conn, keyed(grant(account, 100, None, days=10)))
    await applied(conn, keyed(grant(account, 400, offer)))
    redeem = RedemptionIn(account_id=account, unit="USD", amount=250, invoice_id="in_9")
    (redeemed,) = await applied(conn, keyed(redeem))
    assert len(redeemed.body["allocations"]) == 2
    granted_told, redemption_told = await told(conn, offer)
    assert granted_told.kind == "grant"
    assert (redemption_told.kind, redemption_told.amount_minor) == ("redemption", 150)
    assert (redemption_told.remaining_minor, redemption_told.invoice_id) == (250, "in_9")
    tx_id = redeemed.body["transaction"]["id"]
    count = await conn.fetchval(
        "SELECT count(*) FROM ledger.outbox WHERE payload->>'transaction_id' = $1", tx_id
    )
    assert count == 1


async def test_lots_without_an_offer_write_no_message(conn: asyncpg.Connection) -> None:
    account = uuid.uuid4().hex
    before = await conn.fetchval("SELECT count(*) FROM ledger.outbox")
    (granted,) = await applied(conn, keyed(grant(account, 300, None)))
    redeem = RedemptionIn(account_id=account, unit="USD", amount=100, invoice_id="in_3")
    await applied(conn, keyed(redeem))
    reverse = ReversalIn(transaction_id=granted.body["transaction"]["id"], reason="undo")
    await applied(conn, keyed(reverse))
    assert await conn.fetchval("SELECT count(*) FROM ledger.outbox") == before


async def test_expiry_of_an_offers_lot_tells_what_went_to_breakage(
    conn: asyncpg.Connection,
) -> None:
    account, offer = uuid.uuid4().hex, f"offer-{uuid.uuid4().hex}"
    await applied(conn, keyed(grant(account, 500, offer)))
    redeem = RedemptionIn(account_id=account, unit="USD", amount=120, invoice_id="in_4")
    await applied(conn, keyed(redeem))
    # The sweep as of the lot's expiry (the write path takes as_of as given).
    sweep = WriteOp(Expiry(f"customer:{account}:USD", "USD", ["offers-test"], EXPIRES))
    (swept,) = await apply_group(conn, [sweep])
    assert swept.body == {"lots": 1, "amounts": {"USD": 380}}
    expired = (await told(conn, offer))[-1]
    assert (expired.kind, expired.amount_minor, expired.remaining_minor) == ("expiry", 380, 0)
    tx_id = await conn.fetchval(
        "SELECT id FROM ledger.transactions WHERE kind = 'expiry' AND customer_account_id = $1",
        account,
    )
    assert expired.transaction_id == tx_id


async def test_a_group_that_fails_writes_no_message_and_its_retry_writes_one(
    conn: asyncpg.Connection,
) -> None:
    offer = f"offer-{uuid.uuid4().hex}"
    good = keyed(grant(uuid.uuid4().hex, 500, offer))
    # PostgreSQL's jsonb refuses a NUL: the group's transaction fails, then each write runs
    # on its own; the grant's message must be there once, with the grant.
    poisoned = keyed(
        grant(uuid.uuid4().hex, 500, f"offer-{uuid.uuid4().hex}").model_copy(
            update={"metadata": {"note": "\x00"}}
        )
    )
    results = await apply_each(conn, [good, poisoned])
    assert isinstance(results[0], Outcome)
    assert isinstance(results[1], asyncpg.PostgresError)
    (moved,) = await told(conn, offer)
    assert moved.transaction_id == uuid.UUID(results[0].body["transaction"]["id"])
