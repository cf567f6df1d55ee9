"""SIGKILL the ledger under load: every acknowledged transaction is there once, the audit passes."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text

from shared.db import create_engine
from tests.conftest import make_key
from tests.support import ServiceProcess

CLIENTS = 8
OPERATIONS = 40
KILLS = 3


async def retrying_client(
    url: str, key: str, client_no: int, acked: dict[str, dict[str, Any]], progress: asyncio.Event
) -> None:
    """Grants and redemptions on this client's account, each retried with its own key."""
    account = f"crash-{client_no}"
    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=10
    ) as client:
        for op in range(OPERATIONS):
            idem = f"{account}-{op}-{uuid.uuid4().hex[:6]}"
            if op % 3 == 2:
                path, body = (
                    "/v1/redemptions",
                    {"account_id": account, "unit": "USD", "amount": 150, "invoice_id": idem},
                )
            else:
                path, body = (
                    "/v1/grants",
                    {
                        "account_id": account,
                        "unit": "USD",
                        "amount": 100,
                        "expires_at": expires,
                        "program_id": "crash",
                    },
                )
            for _attempt in range(600):
                try:
                    response = await client.post(path, json=body, headers={"Idempotency-Key": idem})
                except httpx.HTTPError:
                    await asyncio.sleep(0.05)
                    continue
                if response.status_code >= 500 or response.status_code == 409:
                    await asyncio.sleep(0.05)  # a crash left the key in flight; retry
                    continue
                assert response.status_code in (200, 201), response.text
                acked[idem] = response.json()
                progress.set()
                break
            else:
                raise AssertionError("an operation was never acknowledged")


async def test_sigkill_under_load_keeps_every_acknowledged_transaction_once(
    fresh_database: str,
) -> None:
    ledger = ServiceProcess("ledger", fresh_database, env={"TENURE_IDEMPOTENCY_LOCK_SECONDS": "1"})
    await asyncio.to_thread(ledger.start)
    key = await make_key(fresh_database, "ledger:write", "ledger:read")
    admin = await make_key(fresh_database, "admin")  # the audit reads the whole ledger
    acked: dict[str, dict[str, Any]] = {}
    progress = asyncio.Event()
    total = CLIENTS * OPERATIONS

    async def killer() -> None:
        for k in range(1, KILLS + 1):
            while len(acked) < total * k // (KILLS + 1):
                progress.clear()
                await progress.wait()
            await asyncio.to_thread(ledger.kill)
            await asyncio.to_thread(ledger.start)

    try:
        await asyncio.wait_for(
            asyncio.gather(
                *(retrying_client(ledger.url, key, c, acked, progress) for c in range(CLIENTS)),
                killer(),
            ),
            timeout=240,
        )
        async with httpx.AsyncClient(
            base_url=ledger.url, headers={"Authorization": f"Bearer {admin}"}
        ) as client:
            audit = (await client.get("/v1/audit/verify")).json()
    finally:
        ledger.stop()

    assert len(acked) == total
    expected = {
        (body.get("transaction") or {}).get("id")
        for body in acked.values()
        if body.get("transaction") is not None
    }
    engine = create_engine(fresh_database)
    try:
        async with engine.connect() as conn:
            stored = {
                str(row[0])
                for row in await conn.execute(text("SELECT id FROM ledger.transactions"))
            }
            keys = await conn.scalar(
                text("SELECT count(*) FROM ledger.idempotency_keys WHERE response_status IS NULL")
            )
    finally:
        await engine.dispose()
    assert stored == expected  # each acknowledged once; nothing unacknowledged half-written
    assert keys == 0
    assert audit["ok"], audit
