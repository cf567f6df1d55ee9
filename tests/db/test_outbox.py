"""The outbox delivers every message once, however many dispatchers run, and receivers dedupe;
an outage is waited out, and only a message the receiver refuses is parked."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ingest.models import Outbox
from services.scoring.models import Inbox
from shared.db import create_engine, service_url, session_factory, unit_of_work
from shared.http import ServiceClient
from shared.outbox import enqueue
from shared.outbox_admin import ParkedFilter, retry_parked_matching
from shared.outbox_delivery import OutboxDispatcher
from tests.conftest import Platform, service_keys
from tests.support import free_port


async def test_two_dispatchers_deliver_each_message_exactly_once(
    platform: Platform, fresh_database: str
) -> None:
    # A database of its own, so the platform's own dispatchers do not take part.
    ingest_engine = create_engine(service_url(fresh_database, "ingest"))
    factory = session_factory(ingest_engine)
    ids = [f"acct-{uuid.uuid4().hex[:8]}" for _ in range(300)]
    async with unit_of_work(factory) as session:
        message_ids = [
            enqueue(session, Outbox, "scoring", "accounts.changed", {"account_ids": [account_id]})
            for account_id in ids
        ]

    # Deliver to the running scoring process, which writes to the platform's database.
    key = (await service_keys(platform.database_url))["ingest"]
    clients = [{"scoring": ServiceClient(platform.scoring.url, key)} for _ in range(2)]
    dispatchers = [
        OutboxDispatcher(
            service="ingest",
            model=Outbox,
            factory=factory,
            clients=c,
            poll_seconds=0.05,
            batch_size=25,
        )
        for c in clients
    ]
    try:
        delivered = 0
        while delivered < len(ids):
            counts = await asyncio.gather(*(d.deliver_due() for d in dispatchers))
            assert sum(counts) > 0
            delivered += sum(counts)
        assert delivered == len(ids)
        async with factory() as session:
            assert await session.scalar(select(func.count()).select_from(Outbox)) == 0
    finally:
        for c in clients:
            await c["scoring"].aclose()
        await ingest_engine.dispose()

    # Scoring recorded every message (its inbox keeps each id once; the acknowledgements
    # above add up to exactly one delivery each).
    assert await received(platform.database_url, message_ids) == set(message_ids)


async def test_the_same_message_delivered_twice_is_processed_once(platform: Platform) -> None:
    account_id = f"acct-{uuid.uuid4().hex[:8]}"
    message = {
        "id": str(uuid.uuid4()),
        "topic": "accounts.changed",
        "source": "ingest",
        "payload": {"account_ids": [account_id]},
    }
    key = (await service_keys(platform.database_url))["ingest"]
    client = ServiceClient(platform.scoring.url, key)
    try:
        first = await client.request("POST", "/v1/notifications", json={"messages": [message]})
        second = await client.request("POST", "/v1/notifications", json={"messages": [message]})
    finally:
        await client.aclose()
    assert first.json()["processed"] == [message["id"]]
    assert second.json() == {"processed": [], "duplicates": [message["id"]]}
    engine = create_engine(platform.database_url)
    try:
        async with engine.connect() as conn:
            seen = await conn.scalar(
                select(func.count()).select_from(Inbox).where(Inbox.message_id == message["id"])
            )
    finally:
        await engine.dispose()
    assert seen == 1


async def received(database_url: str, message_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these messages scoring's inbox has recorded."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            found = await conn.scalars(
                select(Inbox.message_id).where(Inbox.message_id.in_(message_ids))
            )
            return set(found)
    finally:
        await engine.dispose()


def dispatcher_for(
    factory: async_sessionmaker[AsyncSession], client: ServiceClient, batch_size: int = 10
) -> OutboxDispatcher:
    """A dispatcher whose backoff is zero, so every failed message is due again at once."""
    return OutboxDispatcher(
        service="ingest",
        model=Outbox,
        factory=factory,
        clients={"scoring": client},
        poll_seconds=0.05,
        batch_size=batch_size,
        backoff_base=0.0,
        backoff_cap=0.0,
    )


async def enqueue_accounts(
    factory: async_sessionmaker[AsyncSession], payloads: list[dict[str, Any]]
) -> list[uuid.UUID]:
    async with unit_of_work(factory) as session:
        return [enqueue(session, Outbox, "scoring", "accounts.changed", p) for p in payloads]


async def outbox_rows(factory: async_sessionmaker[AsyncSession]) -> list[Outbox]:
    async with factory() as session:
        return list((await session.scalars(select(Outbox).order_by(Outbox.id))).all())


async def test_an_unreachable_receiver_is_retried_past_the_old_parking_window(
    fresh_database: str,
) -> None:
    engine = create_engine(service_url(fresh_database, "ingest"))
    factory = session_factory(engine)
    await enqueue_accounts(factory, [{"account_ids": [f"a{i}"]} for i in range(5)])
    dead = ServiceClient(f"http://127.0.0.1:{free_port()}", "tnr_x", attempts=1)
    dispatcher = dispatcher_for(factory, dead)
    try:
        for _ in range(20):  # the old dispatcher parked everything after 12
            assert await dispatcher.deliver_due() == 0
        rows = await outbox_rows(factory)
    finally:
        await dead.aclose()
        await engine.dispose()
    assert [r.parked_at for r in rows] == [None] * 5
    # The first attempt carried the batch; after it, only the oldest message was tried.
    assert [r.attempts for r in rows] == [20, 1, 1, 1, 1]
    assert all("ConnectError" in (r.last_error or "") for r in rows)


def receiver(
    answer: Callable[[list[dict[str, Any]]], httpx.Response], seen: list[list[str]]
) -> ServiceClient:
    """A client whose receiver is ``answer`` (over the messages posted), recording each post."""

    def handle(request: httpx.Request) -> httpx.Response:
        messages = json.loads(request.content)["messages"]
        seen.append([m["payload"]["account_ids"][0] for m in messages])
        return answer(messages)

    return ServiceClient("http://receiver", "tnr_x", transport=httpx.MockTransport(handle))


@pytest.mark.parametrize("status", [401, 403, 404, 408, 429, 500, 503])
async def test_answers_that_say_nothing_against_the_message_are_retried_not_parked(
    fresh_database: str, status: int
) -> None:
    engine = create_engine(service_url(fresh_database, "ingest"))
    factory = session_factory(engine)
    await enqueue_accounts(factory, [{"account_ids": ["a"]}, {"account_ids": ["b"]}])
    seen: list[list[str]] = []
    client = receiver(lambda _m: httpx.Response(status, text="not now"), seen)
    dispatcher = dispatcher_for(factory, client)
    try:
        for _ in range(3):
            assert await dispatcher.deliver_due() == 0
        rows = await outbox_rows(factory)
    finally:
        await client.aclose()
        await engine.dispose()
    assert seen == [["a", "b"], ["a"], ["a"]]
    assert [(r.attempts, r.parked_at) for r in rows] == [(3, None), (1, None)]
    assert rows[0].last_error == f"HTTP {status}: not now"


async def test_a_refused_batch_is_split_so_only_the_bad_message_is_parked(
    fresh_database: str,
) -> None:
    engine = create_engine(service_url(fresh_database, "ingest"))
    factory = session_factory(engine)
    names = [f"a{i}" for i in range(8)]
    names[5] = "bad"
    await enqueue_accounts(factory, [{"account_ids": [n]} for n in names])
    seen: list[list[str]] = []
    accepted: list[str] = []

    def answer(messages: list[dict[str, Any]]) -> httpx.Response:
        ids = [m["payload"]["account_ids"][0] for m in messages]
        if "bad" in ids:  # a bare refusal that names no message
            return httpx.Response(400, text="no")
        accepted.extend(ids)
        return httpx.Response(200, json={"processed": [m["id"] for m in messages]})

    client = receiver(answer, seen)
    dispatcher = dispatcher_for(factory, client)
    try:
        assert await dispatcher.deliver_due() == 7
        rows = await outbox_rows(factory)
        assert await dispatcher.deliver_due() == 0  # the parked one is not sent again
    finally:
        await client.aclose()
        await engine.dispose()
    assert accepted == [n for n in names if n != "bad"]  # in order
    assert len(rows) == 1
    assert rows[0].payload == {"account_ids": ["bad"]}
    assert rows[0].parked_at is not None
    assert rows[0].last_error == "HTTP 400: no"
    assert len(seen) == 7  # halves, not one post per message


async def test_the_real_receiver_refusing_one_message_parks_only_that_one(
    platform: Platform, fresh_database: str
) -> None:
    engine = create_engine(service_url(fresh_database, "ingest"))
    factory = session_factory(engine)
    ids = [f"acct-{uuid.uuid4().hex[:8]}" for _ in range(5)]
    payloads: list[dict[str, Any]] = [{"account_ids": [i]} for i in ids]
    deep: dict[str, Any] = {}
    for _ in range(100):  # deeper than any receiver takes
        deep = {"x": deep}
    payloads[2]["extra"] = deep
    message_ids = await enqueue_accounts(factory, payloads)
    key = (await service_keys(platform.database_url))["ingest"]
    client = ServiceClient(platform.scoring.url, key)
    dispatcher = dispatcher_for(factory, client)
    try:
        assert await dispatcher.deliver_due() == 4
        rows = await outbox_rows(factory)
    finally:
        await client.aclose()
        await engine.dispose()
    assert [r.message_id for r in rows] == [message_ids[2]]
    assert rows[0].parked_at is not None
    assert "/messages/2/payload" in (rows[0].last_error or "")
    assert await received(platform.database_url, message_ids) == {
        m for n, m in enumerate(message_ids) if n != 2
    }


async def test_bulk_retry_puts_back_exactly_the_parked_messages_that_match(
    fresh_database: str,
) -> None:
    engine = create_engine(service_url(fresh_database, "ingest"))
    factory = session_factory(engine)
    await enqueue_accounts(factory, [{"account_ids": [f"a{i}"]} for i in range(5)])
    errors = ["HTTP 422: bad payload", "HTTP 422: BAD payload", "HTTP 400: other", None, None]
    async with unit_of_work(factory) as session:
        rows = (await session.scalars(select(Outbox).order_by(Outbox.id))).all()
        for row, error in zip(rows, errors, strict=True):
            row.last_error = error
            row.attempts = 1
            if error is not None:
                row.parked_at = datetime(2026, 1, 1, tzinfo=UTC)
        rows[3].topic = "other.topic"
        rows[3].parked_at = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        async with unit_of_work(factory) as session:
            none = await retry_parked_matching(
                session, Outbox, ParkedFilter(error_contains="bad", destination="ledger")
            )
            later = await retry_parked_matching(
                session,
                Outbox,
                ParkedFilter(parked_from=datetime(2026, 1, 2, tzinfo=UTC)),
            )
            first = await retry_parked_matching(
                session,
                Outbox,
                ParkedFilter(error_contains="bad payload", topic="accounts.changed"),
            )
            # LIKE wildcards in the filter are taken literally.
            wildcard = await retry_parked_matching(
                session, Outbox, ParkedFilter(error_contains="%")
            )
        after = await outbox_rows(factory)
        async with unit_of_work(factory) as session:
            rest = await retry_parked_matching(session, Outbox, ParkedFilter())
    finally:
        await engine.dispose()
    assert (none.retried, later.retried, first.retried, wildcard.retried) == (0, 0, 2, 0)
    assert [r.parked_at is None for r in after] == [True, True, False, False, True]
    assert [r.attempts for r in after][:2] == [0, 0]
    assert rest.retried == 2
