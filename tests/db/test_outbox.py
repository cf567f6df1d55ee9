"""The outbox delivers every message once, however many dispatchers run, and receivers dedupe."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select

from services.ingest.models import Outbox
from services.scoring.models import AccountChange, Inbox
from shared.db import create_engine, service_url, session_factory, unit_of_work
from shared.http import ServiceClient
from shared.outbox import OutboxDispatcher, enqueue
from tests.conftest import Platform, service_keys


async def test_two_dispatchers_deliver_each_message_exactly_once(
    platform: Platform, fresh_database: str
) -> None:
    # A database of its own, so the platform's own dispatchers do not take part.
    ingest_engine = create_engine(service_url(fresh_database, "ingest"))
    factory = session_factory(ingest_engine)
    ids = [f"acct-{uuid.uuid4().hex[:8]}" for _ in range(300)]
    async with unit_of_work(factory) as session:
        for account_id in ids:
            enqueue(session, Outbox, "scoring", "accounts.changed", {"account_ids": [account_id]})

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
            max_attempts=5,
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

    scoring_engine = create_engine(platform.database_url)
    try:
        async with scoring_engine.connect() as conn:
            rows = await conn.execute(
                select(AccountChange.account_id, AccountChange.changes).where(
                    AccountChange.account_id.in_(ids)
                )
            )
            changes = dict(rows.all())
    finally:
        await scoring_engine.dispose()
    assert changes == dict.fromkeys(ids, 1)


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
            changes = await conn.scalar(
                select(AccountChange.changes).where(AccountChange.account_id == account_id)
            )
            seen = await conn.scalar(
                select(func.count()).select_from(Inbox).where(Inbox.message_id == message["id"])
            )
    finally:
        await engine.dispose()
    assert changes == 1
    assert seen == 1


async def test_undeliverable_messages_are_parked_and_can_be_retried(
    platform: Platform, fresh_database: str
) -> None:
    engine = create_engine(service_url(fresh_database, "ingest"))
    factory = session_factory(engine)
    async with unit_of_work(factory) as session:
        enqueue(session, Outbox, "scoring", "accounts.changed", {"account_ids": ["a"]})
    dead = {"scoring": ServiceClient("http://127.0.0.1:9", "tnr_x", attempts=1)}
    dispatcher = OutboxDispatcher(
        service="ingest",
        model=Outbox,
        factory=factory,
        clients=dead,
        poll_seconds=0.05,
        batch_size=10,
        max_attempts=2,
        backoff_base=0.0,
        backoff_cap=0.0,
    )
    try:
        for _ in range(3):
            assert await dispatcher.deliver_due() == 0
        async with factory() as session:
            row = await session.scalar(select(Outbox))
            assert row is not None
            assert row.attempts == 2
            assert row.parked_at is not None
    finally:
        await dead["scoring"].aclose()
        await engine.dispose()
