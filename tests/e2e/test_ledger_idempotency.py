"""Idempotency keys: one answer per (principal, key) and request, however the request is
written, whichever of the principal's API keys sends it; a repeat says it is one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx

from shared.cli import create_key_at
from shared.errors import problem_type
from tests.conftest import Platform
from tests.e2e.test_accounts import new_id
from tests.e2e.test_ledger import balance
from tests.e2e.test_ledger_batch import grant_item


def grant_body(account_id: str, expires_at: str) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "unit": "USD",
        "amount": 300,
        "expires_at": expires_at,
        "program_id": "idempotency",
    }


async def test_one_instant_written_two_ways_is_the_same_request(ledger: httpx.AsyncClient) -> None:
    account = new_id()
    at = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    first = await ledger.post(
        "/v1/grants", json=grant_body(account, at.isoformat()), headers=headers
    )
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    paris = at.astimezone(timezone(timedelta(hours=1))).isoformat()
    repeat = await ledger.post("/v1/grants", json=grant_body(account, paris), headers=headers)
    assert (repeat.status_code, repeat.json()) == (201, first.json())
    assert repeat.headers["Idempotent-Replayed"] == "true"
    assert await balance(ledger, account) == 300

    later = (at + timedelta(seconds=1)).isoformat()
    changed = await ledger.post("/v1/grants", json=grant_body(account, later), headers=headers)
    assert changed.status_code == 422
    assert changed.json()["type"] == problem_type("key-reused")
    assert changed.json()["errors"][0]["parameter"] == "Idempotency-Key"


async def test_a_rotated_key_keeps_its_principals_answers(platform: Platform) -> None:
    principal = f"crm-{uuid.uuid4().hex[:8]}"
    _, old = await create_key_at(platform.database_url, principal, ["ledger:write"])
    _, rotated = await create_key_at(platform.database_url, principal, ["ledger:write"])
    _, stranger = await create_key_at(platform.database_url, "someone-else", ["ledger:write"])
    account = new_id()
    body = grant_body(account, (datetime.now(UTC) + timedelta(days=30)).isoformat())
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    async with platform.client("ledger", key=old) as client:
        first = await client.post("/v1/grants", json=body, headers=headers)
    assert first.status_code == 201, first.text
    async with platform.client("ledger", key=rotated) as client:
        again = await client.post("/v1/grants", json=body, headers=headers)
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    async with platform.client("ledger", key=stranger) as client:
        theirs = await client.post("/v1/grants", json=body, headers=headers)
    assert theirs.status_code == 201, theirs.text
    assert "Idempotent-Replayed" not in theirs.headers  # the same key is theirs to use too
    assert theirs.json()["transaction"]["id"] != first.json()["transaction"]["id"]
    async with platform.client("ledger") as admin:
        assert await balance(admin, account) == 600


async def test_a_batch_says_which_answers_are_replayed(ledger: httpx.AsyncClient) -> None:
    account = new_id()
    items = [grant_item(uuid.uuid4().hex, account, 10), grant_item(uuid.uuid4().hex, account, 20)]
    first = (await ledger.post("/v1/transactions/batch", json={"items": items[:1]})).json()
    assert [r["replayed"] for r in first["results"]] == [False]
    both = (await ledger.post("/v1/transactions/batch", json={"items": items})).json()
    assert [(r["status"], r["replayed"]) for r in both["results"]] == [(201, True), (201, False)]
    assert both["results"][0]["body"] == first["results"][0]["body"]
    assert await balance(ledger, account) == 30
