"""The ledger sweeps expired lots by itself and forgets idempotency keys after retention."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text

from services.ledger.repository import idempotency as repo
from shared.db import create_engine, service_url, session_factory, unit_of_work
from tests.conftest import make_key
from tests.e2e.test_ledger import balance, grant
from tests.support import ServiceProcess


async def test_the_background_sweep_expires_lots(fresh_database: str) -> None:
    ledger = ServiceProcess("ledger", fresh_database, env={"TENURE_EXPIRY_INTERVAL_SECONDS": "0.2"})
    await asyncio.to_thread(ledger.start)
    admin = await make_key(fresh_database, "admin")
    try:
        async with httpx.AsyncClient(
            base_url=ledger.url, headers={"Authorization": f"Bearer {admin}"}
        ) as client:
            await grant(client, "acme", 300, days=1.0 / 86400)
            deadline = time.monotonic() + 20
            while await balance(client, "acme") != 0:
                assert time.monotonic() < deadline, "the sweep never expired the lot"
                await asyncio.sleep(0.1)
            expiries = (await client.get("/v1/transactions", params={"kind": "expiry"})).json()
            assert len(expiries["items"]) == 1
    finally:
        ledger.stop()


async def test_idempotency_keys_are_kept_until_the_retention_ends(fresh_database: str) -> None:
    superuser = create_engine(fresh_database)
    ledger_role = create_engine(service_url(fresh_database, "ledger"))
    try:
        async with superuser.begin() as conn:
            for key, age in (("old", 31), ("recent", 29)):
                await conn.execute(
                    text(
                        "INSERT INTO ledger.idempotency_keys (principal, key, fingerprint,"
                        " response_status, response_body, created_at)"
                        " VALUES ('p', :k, 'f', 200, '{}', now() - make_interval(days => :d))"
                    ),
                    {"k": key, "d": age},
                )
        async with unit_of_work(session_factory(ledger_role)) as session:
            forgotten = await repo.delete_keys_before(
                session, datetime.now(UTC) - timedelta(days=30)
            )
        async with superuser.connect() as conn:
            left = set(await conn.scalars(text("SELECT key FROM ledger.idempotency_keys")))
    finally:
        await superuser.dispose()
        await ledger_role.dispose()
    assert forgotten == 1
    assert left == {"recent"}
