"""/readyz says whether the service can serve: database reachable, migrations at head."""

from __future__ import annotations

import asyncio

import httpx

from shared import migrate
from tests.support import ServiceProcess


async def test_readyz_is_503_when_the_schema_is_behind_and_200_once_migrated(
    fresh_database: str,
) -> None:
    ledger = ServiceProcess("ledger", fresh_database)
    await asyncio.to_thread(ledger.start)
    try:
        async with httpx.AsyncClient(base_url=ledger.url) as client:
            assert (await client.get("/readyz")).status_code == 200
            await migrate.downgrade(fresh_database)
            behind = await client.get("/readyz")
            assert behind.status_code == 503
            assert behind.json()["migrations"]["current"] is None
            assert (await client.get("/healthz")).status_code == 200
            await migrate.upgrade(fresh_database)
            assert (await client.get("/readyz")).status_code == 200
    finally:
        ledger.stop()
