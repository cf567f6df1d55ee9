"""Offers' grant and revoke requests delivered to a real ledger process, and the
``credit.moved`` messages its outbox then holds for offers."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from services.ledger.models import Outbox
from services.offers.models import Inbox as OffersInbox
from shared import migrate
from shared.contracts import (
    CREDIT_MOVED,
    GRANT_REQUESTED,
    REVOKE_REQUESTED,
    CreditMoved,
    GrantRequested,
    RevokeRequested,
)
from shared.db import create_engine, session_factory
from tests.conftest import (
    Platform,
    create_database,
    drop_database,
    make_key,
    service_keys,
)
from tests.e2e.test_accounts import new_id
from tests.support import ServiceProcess, free_port, scratch_database_name, with_database


@dataclass
class LoneLedger:
    """A ledger process of its own database whose offers never answers: what its outbox
    holds stays there to be read."""

    process: ServiceProcess
    database_url: str
    offers_key: str  # the key offers' dispatcher delivers with (ledger:write)
    admin_key: str

    def client(self, key: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key or self.admin_key}"}
        return httpx.AsyncClient(base_url=self.process.url, headers=headers, timeout=30)


@pytest.fixture(scope="module")
async def lone(server_url: str) -> AsyncIterator[LoneLedger]:
    name = scratch_database_name()
    await create_database(server_url, name)
    url = with_database(server_url, name)
    await migrate.upgrade(url)
    keys = await service_keys(url)
    process = ServiceProcess(
        "ledger",
        url,
        env={
            "TENURE_SERVICE_API_KEY": keys["ledger"],
            "TENURE_OFFERS_URL": f"http://127.0.0.1:{free_port()}",
        },
    )
    await asyncio.to_thread(process.start)
    try:
        yield LoneLedger(process, url, keys["offers"], await make_key(url, "admin"))
    finally:
        process.stop()
        await drop_database(server_url, name)


def later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def grant_request(offer_id: str, account_id: str, amount: int = 1_000, **changes: Any) -> Any:
    payload = GrantRequested(
        offer_id=offer_id,
        account_id=account_id,
        program_id="winback",
        tier="gold",
        unit="USD",
        amount_minor=amount,
        lasts=timedelta(days=90),
        approved_at=datetime.now(UTC),
    ).model_dump(mode="json")
    return {**payload, **changes}


def revoke_request(offer_id: str) -> Any:
    return RevokeRequested(
        offer_id=offer_id, reason="account churned", requested_by="csm", requested_at=later(0)
    ).model_dump(mode="json")


def message(topic: str, payload: Any, message_id: uuid.UUID | None = None) -> dict[str, Any]:
    return {
        "id": str(message_id or uuid.uuid4()),
        "topic": topic,
        "source": "offers",
        "payload": payload,
    }


async def deliver(ledger: LoneLedger, *messages: dict[str, Any]) -> httpx.Response:
    async with ledger.client(ledger.offers_key) as client:
        return await client.post("/v1/notifications", json={"messages": list(messages)})


async def delivered(ledger: LoneLedger, *messages: dict[str, Any]) -> dict[str, Any]:
    response = await deliver(ledger, *messages)
    assert response.status_code == 200, response.text
    ack: dict[str, Any] = response.json()
    return ack


async def of_offer(ledger: LoneLedger, offer_id: str) -> list[dict[str, Any]]:
    async with ledger.client() as client:
        response = await client.get("/v1/transactions", params={"offer_id": offer_id})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def balance(ledger: LoneLedger, account_id: str) -> int | None:
    async with ledger.client() as client:
        response = await client.get(f"/v1/balances/{account_id}", params={"unit": "USD"})
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    balances = response.json()["balances"]
    return int(balances[0]["balance"]) if balances else None


async def lots_of(ledger: LoneLedger, account_id: str) -> list[dict[str, Any]]:
    async with ledger.client() as client:
        answer = await client.get("/v1/lots", params={"account_id": account_id})
        assert answer.status_code == 200, answer.text
        lots: list[dict[str, Any]] = answer.json()["items"]
        return lots


async def told(ledger: LoneLedger, offer_id: str) -> list[CreditMoved]:
    """The credit.moved messages the ledger's outbox holds for an offer, oldest first."""
    engine = create_engine(ledger.database_url, pool_size=1, max_overflow=0)
    try:
        async with session_factory(engine)() as session:
            rows = (
                await session.scalars(
                    select(Outbox)
                    .where(Outbox.payload["offer_id"].astext == offer_id)
                    .order_by(Outbox.id)
                )
            ).all()
    finally:
        await engine.dispose()
    assert {(r.destination, r.topic) for r in rows} <= {("offers", CREDIT_MOVED)}
    return [CreditMoved.model_validate(r.payload) for r in rows]


async def test_a_grant_request_grants_once_however_often_it_arrives(lone: LoneLedger) -> None:
    offer_id, account_id = new_id("offer"), new_id("acct")
    first = message(GRANT_REQUESTED, grant_request(offer_id, account_id))
    ack = await delivered(lone, first, first)  # the same message twice in one delivery
    assert (ack["processed"], ack["duplicates"]) == ([first["id"]], [first["id"]])
    again = await delivered(lone, first)  # the same delivery again
    assert (again["processed"], again["duplicates"]) == ([], [first["id"]])
    # The same offer under a new message id (offers approved it twice over): acknowledged.
    other = message(GRANT_REQUESTED, grant_request(offer_id, account_id))
    assert (await delivered(lone, other))["processed"] == [other["id"]]

    (tx,) = await of_offer(lone, offer_id)
    assert (tx["kind"], tx["offer_id"], tx["program_id"], tx["tier"]) == (
        "grant",
        offer_id,
        "winback",
        "gold",
    )
    assert await balance(lone, account_id) == 1_000
    async with lone.client() as client:
        lots = (await client.get("/v1/lots", params={"account_id": account_id})).json()["items"]
    assert [(lot["grant_id"], lot["amount"], lot["remaining"]) for lot in lots] == [
        (tx["id"], 1_000, 1_000)
    ]
    (moved,) = await told(lone, offer_id)
    assert (moved.kind, moved.amount_minor, moved.remaining_minor) == ("grant", 1_000, 1_000)
    assert (str(moved.transaction_id), moved.hash) == (tx["id"], tx["hash"])


async def test_a_revoke_reverses_only_what_is_left_after_a_redemption(lone: LoneLedger) -> None:
    offer_id, account_id = new_id("offer"), new_id("acct")
    await delivered(lone, message(GRANT_REQUESTED, grant_request(offer_id, account_id)))
    async with lone.client(lone.offers_key) as client:
        redeemed = await client.post(
            "/v1/redemptions",
            json={"account_id": account_id, "unit": "USD", "amount": 300, "invoice_id": "in_7"},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
    assert redeemed.status_code == 200, redeemed.text
    revoke = message(REVOKE_REQUESTED, revoke_request(offer_id))
    assert (await delivered(lone, revoke))["processed"] == [revoke["id"]]
    # A second revoke of the offer (a new message) has nothing left to reverse.
    assert (await delivered(lone, message(REVOKE_REQUESTED, revoke_request(offer_id))))["processed"]

    grant_tx, reversal = await of_offer(lone, offer_id)
    assert (reversal["kind"], reversal["reverses_id"]) == ("reversal", grant_tx["id"])
    assert [m["amount"] for m in reversal["lot_movements"]] == [-700]
    assert await balance(lone, account_id) == 0
    moves = await told(lone, offer_id)
    assert [(m.kind, m.amount_minor, m.remaining_minor, m.invoice_id) for m in moves] == [
        ("grant", 1_000, 1_000, None),
        ("redemption", 300, 700, "in_7"),
        ("reversal", 700, 0, None),
    ]
    assert moves[2].hash == reversal["hash"]


async def test_a_revoke_before_its_grant_leaves_the_offer_ungranted(lone: LoneLedger) -> None:
    offer_id, account_id = new_id("offer"), new_id("acct")
    revoke = message(REVOKE_REQUESTED, revoke_request(offer_id))
    assert (await delivered(lone, revoke))["processed"] == [revoke["id"]]
    late = message(GRANT_REQUESTED, grant_request(offer_id, account_id))
    assert (await delivered(lone, late))["processed"] == [late["id"]]
    # In one delivery, in its order: a revoke then a grant of another offer grants nothing
    # either, while a grant then its revoke grants and takes it all back.
    second, third = new_id("offer"), new_id("offer")
    ack = await delivered(
        lone,
        message(REVOKE_REQUESTED, revoke_request(second)),
        message(GRANT_REQUESTED, grant_request(second, account_id)),
        message(GRANT_REQUESTED, grant_request(third, account_id, 400)),
        message(REVOKE_REQUESTED, revoke_request(third)),
    )
    assert len(ack["processed"]) == 4
    # A revoke of an offer whose credit was all redeemed is acknowledged and reverses nothing.
    spent = new_id("offer")
    await delivered(lone, message(GRANT_REQUESTED, grant_request(spent, account_id, 250)))
    async with lone.client() as client:
        redeemed = await client.post(
            "/v1/redemptions",
            json={"account_id": account_id, "unit": "USD", "amount": 250, "invoice_id": "in_5"},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
    assert redeemed.json()["applied"] == 250, redeemed.text
    await delivered(lone, message(REVOKE_REQUESTED, revoke_request(spent)))
    assert [tx["kind"] for tx in await of_offer(lone, spent)] == ["grant"]
    assert [m.kind for m in await told(lone, spent)] == ["grant", "redemption"]
    assert await of_offer(lone, offer_id) == []
    assert await of_offer(lone, second) == []
    assert [tx["kind"] for tx in await of_offer(lone, third)] == ["grant", "reversal"]
    assert await balance(lone, account_id) == 0
    assert await told(lone, offer_id) == []


async def test_a_grant_and_a_revoke_racing_never_leave_credit_unrevoked(
    lone: LoneLedger,
) -> None:
    account_id = new_id("acct")
    offers = [new_id("offer") for _ in range(12)]
    deliveries = []
    for offer_id in offers:
        deliveries.append(message(GRANT_REQUESTED, grant_request(offer_id, account_id)))
        deliveries.append(message(REVOKE_REQUESTED, revoke_request(offer_id)))
    # Each message its own delivery, all at once: grant and revoke of an offer pass each
    # other however they are scheduled; whichever comes second sees the first.
    answers = await asyncio.gather(*(deliver(lone, m) for m in deliveries))
    assert [a.status_code for a in answers] == [200] * len(deliveries), answers
    assert await balance(lone, account_id) in (0, None)
    for offer_id in offers:
        kinds = [tx["kind"] for tx in await of_offer(lone, offer_id)]
        assert kinds in ([], ["grant", "reversal"]), (offer_id, kinds)


async def test_an_expiring_offer_lot_tells_offers_what_went_to_breakage(lone: LoneLedger) -> None:
    offer_id, account_id = new_id("offer"), new_id("acct")
    request = grant_request(offer_id, account_id, 500, lasts="PT1.5S")
    await delivered(lone, message(GRANT_REQUESTED, request))
    [lot] = await lots_of(lone, account_id)
    expires = datetime.fromisoformat(lot["expires_at"])
    async with lone.client() as client:
        redeemed = await client.post(
            "/v1/redemptions",
            json={"account_id": account_id, "unit": "USD", "amount": 120, "invoice_id": "in_8"},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert redeemed.status_code == 200, redeemed.text
        # Wait out the lot's life: the run may only expire what is past its date.
        await asyncio.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.05)
        run = await client.post("/v1/expirations/run", json={})
        assert run.status_code == 200, run.text
    moves = await told(lone, offer_id)
    assert [(m.kind, m.amount_minor, m.remaining_minor) for m in moves] == [
        ("grant", 500, 500),
        ("redemption", 120, 380),
        ("expiry", 380, 0),
    ]
    assert moves[1].invoice_id == "in_8"
    assert moves[0].expires_at is not None
    # A revoke after the expiry has nothing left: acknowledged, nothing written.
    await delivered(lone, message(REVOKE_REQUESTED, revoke_request(offer_id)))
    assert [tx["kind"] for tx in await of_offer(lone, offer_id)] == ["grant"]
    assert len(await told(lone, offer_id)) == 3


async def test_a_malformed_request_is_refused_pointing_at_its_field(lone: LoneLedger) -> None:
    offer_id, account_id = new_id("offer"), new_id("acct")
    good = message(GRANT_REQUESTED, grant_request(offer_id, account_id))
    bad = grant_request(new_id("offer"), account_id, amount_minor=-5)
    no_reason = {**revoke_request(new_id("offer")), "reason": ""}
    response = await deliver(
        lone, good, message(GRANT_REQUESTED, bad), message(REVOKE_REQUESTED, no_reason)
    )
    assert response.status_code == 422, response.text
    pointers = {e["pointer"] for e in response.json()["errors"]}
    assert pointers == {"/messages/1/payload/amount_minor", "/messages/2/payload/reason"}
    assert await of_offer(lone, offer_id) == []  # nothing of the delivery was applied
    # A credit that would last no time at all breaks the contract, by pointer too.
    instant = grant_request(new_id("offer"), account_id, lasts="PT0S")
    response = await deliver(lone, message(GRANT_REQUESTED, instant))
    assert response.status_code == 422, response.text
    assert [e["pointer"] for e in response.json()["errors"]] == ["/messages/0/payload/lasts"]


async def test_a_key_without_ledger_write_cannot_deliver(lone: LoneLedger) -> None:
    reader = await make_key(lone.database_url, "ledger:read")
    async with lone.client(reader) as client:
        response = await client.post(
            "/v1/notifications",
            json={"messages": [message(REVOKE_REQUESTED, revoke_request(new_id("offer")))]},
        )
    assert response.status_code == 403, response.text


async def test_the_ledgers_outbox_delivers_credit_moved_to_offers(platform: Platform) -> None:
    offer_id, account_id = new_id("offer"), new_id("acct")
    async with platform.client("ledger") as client:
        granted = await client.post(
            "/v1/grants",
            json={
                "account_id": account_id,
                "unit": "USD",
                "amount": 250,
                "expires_at": later(86_400).isoformat(),
                "program_id": "winback",
                "offer_id": offer_id,
            },
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
    assert granted.status_code == 201, granted.text
    engine = create_engine(platform.database_url, pool_size=1, max_overflow=0)
    try:
        deadline = time.monotonic() + 30
        while True:  # offers acknowledges it (it ignores the topic today): the row goes
            async with session_factory(engine)() as session:
                waiting = await session.scalar(
                    text("SELECT count(*) FROM ledger.outbox WHERE payload->>'offer_id' = :o"),
                    {"o": offer_id},
                )
                parked = await session.scalar(
                    text(
                        "SELECT count(*) FROM ledger.outbox"
                        " WHERE topic = :t AND parked_at IS NOT NULL"
                    ),
                    {"t": CREDIT_MOVED},
                )
                assert parked == 0
                heard = await session.scalar(
                    select(OffersInbox.message_id).where(OffersInbox.topic == CREDIT_MOVED)
                )
            if waiting == 0 and heard is not None:
                break
            assert time.monotonic() < deadline, "the ledger's outbox never delivered"
            await asyncio.sleep(0.1)
    finally:
        await engine.dispose()


async def test_only_offers_asks_the_ledger_for_grants(lone: LoneLedger) -> None:
    writer = await make_key(lone.database_url, "ledger:write")  # principal "test", not offers
    request = grant_request(new_id("offer"), new_id("acct"))
    async with lone.client(writer) as client:
        response = await client.post(
            "/v1/notifications", json={"messages": [message(GRANT_REQUESTED, request)]}
        )
    assert response.status_code == 403, response.text
    assert "service:offers" in response.json()["detail"]
