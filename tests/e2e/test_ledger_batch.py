"""POST /v1/transactions/batch: each item keyed and atomic on its own, one result per item."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from services.ledger.schemas import BatchOut, GrantOut
from tests.e2e.test_accounts import new_id
from tests.e2e.test_ledger import balance, later


def grant_item(key: str, account: str, amount: int) -> dict[str, Any]:
    return {
        "operation": "grant",
        "idempotency_key": key,
        "grant": {
            "account_id": account,
            "unit": "USD",
            "amount": amount,
            "expires_at": later(),
            "program_id": "batch",
        },
    }


async def test_batch_items_succeed_or_fail_on_their_own(ledger: httpx.AsyncClient) -> None:
    account = new_id()
    first = uuid.uuid4().hex
    original = grant_item(first, account, 1_000)
    items = [
        original,
        grant_item(uuid.uuid4().hex, account, 500),
        {
            "operation": "redemption",
            "idempotency_key": uuid.uuid4().hex,
            "redemption": {
                "account_id": account,
                "unit": "USD",
                "amount": 1_200,
                "invoice_id": "inv-1",
            },
        },
        grant_item(uuid.uuid4().hex, account, 10) | {"grant": {"amount": 1.5}},
        {
            "operation": "reversal",
            "idempotency_key": uuid.uuid4().hex,
            "reversal": {"transaction_id": str(uuid.uuid4()), "reason": "no such"},
        },
        original,
        grant_item(first, account, 999),
        {"operation": "teleport", "idempotency_key": "x"},
    ]
    response = await ledger.post("/v1/transactions/batch", json={"items": items})
    assert response.status_code == 200, response.text
    assert BatchOut.model_validate(response.json())  # the documented shape
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 201, 200, 422, 404, 201, 422, 422]
    assert GrantOut.model_validate(results[0]["body"])
    assert results[2]["body"]["applied"] == 1_200
    assert results[5]["body"] == results[0]["body"]  # the same key and request, once
    assert results[6]["body"]["errors"][0]["parameter"] == "Idempotency-Key"
    assert await balance(ledger, account) == 300

    again = (await ledger.post("/v1/transactions/batch", json={"items": items})).json()["results"]
    assert [r["body"] for r in again[:3]] == [r["body"] for r in results[:3]]
    assert await balance(ledger, account) == 300
    audit = (await ledger.get("/v1/audit/verify")).json()
    assert audit["ok"], audit


async def test_batch_limits(ledger: httpx.AsyncClient) -> None:
    too_many = [grant_item(uuid.uuid4().hex, "a", 1)] * 1001
    assert (
        await ledger.post("/v1/transactions/batch", json={"items": too_many})
    ).status_code == 422
    assert (await ledger.post("/v1/transactions/batch", json={"items": []})).status_code == 422
