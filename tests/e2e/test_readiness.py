"""/readyz says whether the service can serve: database reachable, migrations at head."""

from __future__ import annotations

import asyncio

import httpx
from alembic import command
from sqlalchemy import Connection

from shared import migrate
from shared.db import create_engine
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


async def test_readyz_is_503_while_the_key_store_is_behind(fresh_database: str) -> None:
    # Every keyed request goes through the auth schema's functions: a service whose own
    # schema is current but whose key store is not would fail every call it said it could serve.
    ingest = ServiceProcess("ingest", fresh_database)
    await asyncio.to_thread(ingest.start)
    engine = create_engine(fresh_database)
    try:
        async with httpx.AsyncClient(base_url=ingest.url) as client:
            async with engine.connect() as conn:
                await conn.run_sync(downgrade_auth, "auth_0001")
                await conn.commit()
            behind = await client.get("/readyz")
            assert behind.status_code == 503
            assert behind.json()["migrations"]["auth"] == {
                "current": "auth_0001",
                "head": migrate.head_revision("auth"),
            }
            await migrate.upgrade(fresh_database)
            assert (await client.get("/readyz")).status_code == 200
    finally:
        ingest.stop()
        await engine.dispose()


def downgrade_auth(connection: Connection, revision: str) -> None:
    command.downgrade(migrate.alembic_config("auth", connection), revision)
