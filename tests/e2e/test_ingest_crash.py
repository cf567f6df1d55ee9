"""Ingest loses and duplicates nothing when it is SIGKILLed under load and restarted."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text

from services.ingest.domain.rollups import DEFAULT_EVENT_MAP, Activity, aggregate
from shared.db import create_engine
from tests.conftest import make_key, service_keys
from tests.e2e.test_accounts import account
from tests.support import ServiceProcess

CLIENTS = 8
BATCHES_PER_CLIENT = 25
EVENTS_PER_BATCH = 100
KILLS = 4
NAMES = ["login", "report_created", "dashboard_viewed", "export", "other"]


async def retrying_client(
    url: str,
    key: str,
    batches: list[list[dict[str, str]]],
    acked: set[str],
    progress: asyncio.Event,
) -> None:
    """Send each batch until it is acknowledged, retrying on any failure with the same ids."""
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=10
    ) as client:
        for batch in batches:
            for _attempt in range(400):
                try:
                    response = await client.post("/v1/events", json={"events": batch})
                except httpx.HTTPError:
                    await asyncio.sleep(0.05)
                    continue
                if response.status_code == 200:
                    body = response.json()
                    assert body["rejected"] == []
                    acked.update(str(e["id"]) for e in batch)
                    progress.set()
                    break
                assert response.status_code >= 500, response.text
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("a batch was never acknowledged")


async def test_sigkill_under_load_loses_and_duplicates_nothing(fresh_database: str) -> None:
    keys = await service_keys(fresh_database)
    key = await make_key(fresh_database, "ingest:write", "ingest:read")
    ingest = ServiceProcess(
        "ingest", fresh_database, env={"TENURE_SERVICE_API_KEY": keys["ingest"]}
    )
    await asyncio.to_thread(ingest.start)
    accounts = [f"crash-{i}" for i in range(10)]
    async with httpx.AsyncClient(
        base_url=ingest.url, headers={"Authorization": f"Bearer {key}"}
    ) as client:
        for a in accounts:
            assert (await client.put(f"/v1/accounts/{a}", json=account())).status_code == 201

    base = datetime(2026, 11, 1, tzinfo=UTC)
    plans = [
        [
            [
                {
                    "id": f"c{c}-{uuid.uuid4().hex}",
                    "account_id": accounts[(c + b + i) % len(accounts)],
                    "user_id": f"u{(c * 7 + i) % 23}",
                    "name": NAMES[(b + i) % len(NAMES)],
                    "timestamp": (base + timedelta(hours=(c + b * 3 + i) % 240)).isoformat(),
                }
                for i in range(EVENTS_PER_BATCH)
            ]
            for b in range(BATCHES_PER_CLIENT)
        ]
        for c in range(CLIENTS)
    ]
    acked: set[str] = set()
    progress = asyncio.Event()
    sent = asyncio.gather(*(retrying_client(ingest.url, key, p, acked, progress) for p in plans))

    total = CLIENTS * BATCHES_PER_CLIENT * EVENTS_PER_BATCH

    async def killer() -> None:
        # Kill at evenly spaced points of progress, so every kill lands mid-load.
        for k in range(1, KILLS + 1):
            while len(acked) < total * k // (KILLS + 1):
                progress.clear()
                await progress.wait()
            await asyncio.to_thread(ingest.kill)
            await asyncio.to_thread(ingest.start)

    try:
        await asyncio.wait_for(asyncio.gather(sent, killer()), timeout=240)
    finally:
        ingest.stop()

    every_id = {str(e["id"]) for p in plans for b in p for e in b}
    assert acked == every_id

    engine = create_engine(fresh_database)
    try:
        async with engine.connect() as conn:
            stored = (
                await conn.execute(
                    text("SELECT id, account_id, user_id, name, ts FROM ingest.events")
                )
            ).all()
            rollups = (
                await conn.execute(
                    text(
                        "SELECT account_id, day, events, logins, key_actions, exports,"
                        " active_users, core_features FROM ingest.daily_rollups"
                    )
                )
            ).all()
    finally:
        await engine.dispose()

    stored_ids = [row[0] for row in stored]
    assert len(stored_ids) == len(set(stored_ids)) == len(every_id)
    assert set(stored_ids) == every_id

    recount = aggregate((Activity(a, u, n, ts) for _id, a, u, n, ts in stored), DEFAULT_EVENT_MAP)
    expected = {
        (a, d): (
            t.counters["events"],
            t.counters["logins"],
            t.counters["key_actions"],
            t.counters["exports"],
            len(t.users),
            len(t.features),
        )
        for (a, d), t in recount.items()
    }
    actual: dict[tuple[str, object], tuple[int, ...]] = defaultdict(tuple)
    for a, d, *counts in rollups:
        actual[(a, d)] = tuple(counts)
    assert dict(actual) == expected
