"""Per-key (and per-Segment-source) rate limits, set tiny through settings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from shared.cli import create_key_at
from tests.conftest import make_key
from tests.e2e.test_segment import basic
from tests.support import ServiceProcess

BURST = 3


@pytest.fixture
async def limited_ingest(fresh_database: str) -> AsyncIterator[tuple[ServiceProcess, str]]:
    """An ingest whose keys may make BURST reads (and Segment sources 2 calls), then ~none."""
    limits = {"ingest:read": [0.001, BURST], "segment": [0.001, 2]}
    ingest = ServiceProcess(
        "ingest", fresh_database, env={"TENURE_RATE_LIMITS": orjson.dumps(limits).decode()}
    )
    await asyncio.to_thread(ingest.start)
    try:
        yield ingest, fresh_database
    finally:
        ingest.stop()


def client(ingest: ServiceProcess, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=ingest.url, headers={"Authorization": f"Bearer {key}"})


async def test_a_key_past_its_burst_is_a_429_and_others_are_unaffected(
    limited_ingest: tuple[ServiceProcess, str],
) -> None:
    ingest, database_url = limited_ingest
    greedy = await make_key(database_url, "ingest:read")
    other = await make_key(database_url, "ingest:read")
    _key, service = await create_key_at(database_url, "service:scoring", ["ingest:read"])
    async with client(ingest, greedy) as c:
        for _ in range(BURST):
            assert (await c.get("/v1/accounts")).status_code == 200
        refused = await c.get("/v1/accounts")
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/rate-limited")
    assert int(refused.headers["retry-after"]) >= 1
    async with client(ingest, other) as c:
        assert (await c.get("/v1/accounts")).status_code == 200
    async with client(ingest, service) as c:
        for _ in range(BURST + 2):
            assert (await c.get("/v1/accounts")).status_code == 200


async def test_a_segment_source_past_its_burst_is_a_429_and_other_sources_are_not(
    limited_ingest: tuple[ServiceProcess, str],
) -> None:
    ingest, database_url = limited_ingest
    admin = await make_key(database_url, "admin")
    async with client(ingest, admin) as c:
        keys = [
            (await c.post("/v1/sources", json={"kind": "segment", "name": n})).json()["write_key"]
            for n in ("busy", "quiet")
        ]
    async with httpx.AsyncClient(base_url=ingest.url) as c:
        message = {"userId": "u", "event": "e"}
        for _ in range(2):
            sent = await c.post("/v1/track", json=message, headers=basic(keys[0]))
            assert sent.status_code == 200, sent.text
        refused = await c.post("/v1/track", json=message, headers=basic(keys[0]))
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["code"] == "rate-limited"  # the SDKs' member, as on every error
        assert (await c.post("/v1/track", json=message, headers=basic(keys[1]))).status_code == 200
