"""Ingest tells scoring which accounts changed, through its outbox, without loss."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select

from services.ingest.models import Outbox as IngestOutbox
from services.scoring.models import Inbox
from shared.db import create_engine
from tests.conftest import Platform, make_key, service_keys
from tests.e2e.test_accounts import account, new_id
from tests.support import ServiceProcess


async def wait_for_score(
    scoring: httpx.AsyncClient, account_id: str, within: float = 30
) -> dict[str, Any]:
    """The account's snapshot, once scoring has heard of it and scored it (bounded wait)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        response = await scoring.get(f"/v1/scores/{account_id}")
        if response.status_code == 200:
            return dict(response.json())
        assert response.status_code == 404, response.text
        await asyncio.sleep(0.1)
    raise AssertionError(f"scoring never scored {account_id}")


async def test_account_change_reaches_scoring(
    ingest: httpx.AsyncClient, scoring: httpx.AsyncClient
) -> None:
    account_id = new_id()
    await ingest.put(f"/v1/accounts/{account_id}", json=account())
    snapshot = await wait_for_score(scoring, account_id)
    assert snapshot["account_id"] == account_id


async def test_an_outage_longer_than_the_old_parking_window_loses_nothing(
    fresh_database: str,
) -> None:
    keys = await service_keys(fresh_database)
    admin = await make_key(fresh_database, "admin")
    headers = {"Authorization": f"Bearer {admin}"}
    scoring = ServiceProcess(
        "scoring", fresh_database, env={"TENURE_SERVICE_API_KEY": keys["scoring"]}
    )
    ingest = ServiceProcess(
        "ingest",
        fresh_database,
        env={
            "TENURE_SCORING_URL": scoring.url,
            "TENURE_SERVICE_API_KEY": keys["ingest"],
            # Fast attempts, so many more than the old 12 fit in a short test.
            "TENURE_OUTBOX_BACKOFF_BASE_SECONDS": "0.01",
            "TENURE_OUTBOX_MAX_BACKOFF_SECONDS": "0.05",
        },
    )
    scoring.env["TENURE_INGEST_URL"] = ingest.url  # where it reads the changed accounts
    await asyncio.to_thread(ingest.start)
    try:
        accounts = [new_id() for _ in range(3)]
        async with httpx.AsyncClient(base_url=ingest.url, headers=headers) as client:
            for seats in (10, 20, 30):
                for account_id in accounts:
                    body = account(seats_purchased=seats)
                    resp = await client.put(f"/v1/accounts/{account_id}", json=body)
                    assert resp.status_code in (200, 201), resp.text
            deadline = time.monotonic() + 120
            while True:  # until the oldest message has been tried far past the old window
                resp = await client.get("/v1/outbox", params={"limit": 100})
                assert resp.status_code == 200, resp.text
                pending = resp.json()["items"]
                if pending[0]["attempts"] > 15:
                    break
                assert time.monotonic() < deadline, pending[0]
                await asyncio.sleep(0.1)
        assert len(pending) == 9
        assert all(p["parked_at"] is None for p in pending)
        assert pending[0]["last_error"]
        # While scoring is down only the oldest message is tried; the rest wait behind it.
        assert all(p["attempts"] <= 1 for p in pending[1:])
        sent = [(p["payload"]["account_ids"][0], p["message_id"]) for p in pending]

        await asyncio.to_thread(scoring.start)
        async with httpx.AsyncClient(base_url=scoring.url, headers=headers) as client:
            for account_id in accounts:
                snapshot = await wait_for_score(client, account_id, within=60)
                assert snapshot["seats_purchased"] == 30  # the last of the three changes
        async with httpx.AsyncClient(base_url=ingest.url, headers=headers) as client:
            assert (await client.get("/v1/outbox")).json()["items"] == []
        received = await inbox_times(fresh_database, [m for _a, m in sent])
        assert set(received) == {m for _a, m in sent}  # each once (the inbox key)
        for account_id in accounts:
            times = [received[m] for a, m in sent if a == account_id]
            assert times == sorted(times)  # in the order they were sent
    finally:
        ingest.stop()
        scoring.stop()


async def inbox_times(database_url: str, message_ids: list[str]) -> dict[str, Any]:
    """When scoring's inbox recorded each message."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(Inbox.message_id, Inbox.received_at).where(
                    Inbox.message_id.in_([uuid.UUID(m) for m in message_ids])
                )
            )
            return {str(m): t for m, t in rows.all()}
    finally:
        await engine.dispose()


async def test_parked_messages_are_retried_in_bulk_by_filter(
    platform: Platform, ingest: httpx.AsyncClient, scoring: httpx.AsyncClient
) -> None:
    marker = uuid.uuid4().hex
    accounts = [new_id() for _ in range(3)]
    message_ids = [uuid.uuid4() for _ in accounts]
    engine = create_engine(platform.database_url)
    try:
        async with engine.begin() as conn:
            for n, account_id in enumerate(accounts):
                await conn.execute(
                    insert(IngestOutbox).values(
                        message_id=message_ids[n],
                        destination="scoring",
                        topic="accounts.changed",
                        payload={"account_ids": [account_id]},
                        attempts=1,
                        last_error=f"HTTP 422: {marker} {'kept' if n == 2 else 'fixed'}",
                        parked_at=func.now(),
                    )
                )
    finally:
        await engine.dispose()
    refused = await ingest.post("/v1/outbox/retry", json={"error_contains": 3})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["pointer"] == "/error_contains"
    resp = await ingest.post("/v1/outbox/retry", json={"error_contains": f"{marker} FIXED"})
    assert resp.status_code == 202, resp.text
    assert resp.json() == {"retried": 2}
    deadline = time.monotonic() + 30
    wanted = {str(m) for m in message_ids[:2]}
    while set(await inbox_times(platform.database_url, sorted(wanted))) != wanted:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    parked = (await ingest.get("/v1/outbox", params={"parked": "true", "limit": 500})).json()
    assert [p["payload"] for p in parked["items"] if marker in p["last_error"]] == [
        {"account_ids": [accounts[2]]}
    ]


@pytest.mark.parametrize("service", ["ingest", "scoring", "offers", "ledger"])
async def test_a_service_that_sends_runs_the_outbox_it_writes(
    platform: Platform, service: str
) -> None:
    async with platform.client(service) as client:
        assert (await client.get("/v1/outbox")).status_code == 200
        deadline = time.monotonic() + 30
        sample = f'tenure_outbox_backlog{{service="{service}"'
        while sample not in (await client.get("/metrics")).text:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
