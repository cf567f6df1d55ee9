"""Ingest tells scoring which accounts changed, through its outbox, without loss."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tests.conftest import make_key, service_keys
from tests.e2e.test_accounts import account, new_id
from tests.support import ServiceProcess


async def wait_for_change(
    scoring: httpx.AsyncClient, account_id: str, within: float = 20
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
            page = (await scoring.get("/v1/account-changes", params=params)).json()
            for item in page["items"]:
                if item["account_id"] == account_id:
                    return dict(item)
            cursor = page["next_cursor"]
            if cursor is None:
                break
        await asyncio.sleep(0.1)
    raise AssertionError(f"scoring never heard of {account_id}")


async def test_account_change_reaches_scoring(
    ingest: httpx.AsyncClient, scoring: httpx.AsyncClient
) -> None:
    account_id = new_id()
    await ingest.put(f"/v1/accounts/{account_id}", json=account())
    change = await wait_for_change(scoring, account_id)
    assert change["changes"] >= 1


async def test_messages_wait_while_scoring_is_down_and_arrive_after(fresh_database: str) -> None:
    keys = await service_keys(fresh_database)
    admin = await make_key(fresh_database, "admin")
    headers = {"Authorization": f"Bearer {admin}"}
    scoring = ServiceProcess(
        "scoring", fresh_database, env={"TENURE_SERVICE_API_KEY": keys["scoring"]}
    )
    ingest = ServiceProcess(
        "ingest",
        fresh_database,
        env={"TENURE_SCORING_URL": scoring.url, "TENURE_SERVICE_API_KEY": keys["ingest"]},
    )
    await asyncio.to_thread(ingest.start)
    try:
        account_id = new_id()
        async with httpx.AsyncClient(base_url=ingest.url, headers=headers) as client:
            assert (
                await client.put(f"/v1/accounts/{account_id}", json=account())
            ).status_code == 201
            deadline = time.monotonic() + 20
            while True:  # until at least two deliveries have failed
                resp = await client.get("/v1/outbox")
                assert resp.status_code == 200, resp.text
                pending = resp.json()["items"]
                assert len(pending) == 1
                if pending[0]["attempts"] >= 2 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
        assert pending[0]["payload"] == {"account_ids": [account_id]}
        assert pending[0]["attempts"] >= 2
        assert pending[0]["last_error"]

        await asyncio.to_thread(scoring.start)
        async with httpx.AsyncClient(base_url=scoring.url, headers=headers) as client:
            change = await wait_for_change(client, account_id)
        assert change["changes"] == 1
        async with httpx.AsyncClient(base_url=ingest.url, headers=headers) as client:
            assert (await client.get("/v1/outbox")).json()["items"] == []
    finally:
        ingest.stop()
        scoring.stop()
