"""POST /v1/transactions/batch: each item keyed and atomic on its own, one result per item."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from sqlalchemy import text

from services.ledger.schemas import BatchOut, GrantOut
from shared.db import create_engine
from shared.errors import problem_type
from tests.conftest import make_key
from tests.e2e.test_accounts import new_id
from tests.e2e.test_ledger import balance, later
from tests.support import ServiceProcess


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
    assert results[6]["body"]["errors"][0]["pointer"] == "/items/6/idempotency_key"
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


async def test_a_batch_answers_every_item_once_anything_may_have_been_committed(
    fresh_database: str,
) -> None:
    # A value the database refuses though validation let it through, made on purpose: this
    # database (the test's own) refuses one offer id.
    superuser = create_engine(fresh_database)
    try:
        async with superuser.begin() as conn:
            await conn.execute(
                text(
                    "ALTER TABLE ledger.transactions ADD CONSTRAINT test_refused_offer"
                    " CHECK (offer_id IS DISTINCT FROM 'refused-by-the-database')"
                )
            )
    finally:
        await superuser.dispose()
    ledger = ServiceProcess("ledger", fresh_database)
    await asyncio.to_thread(ledger.start)
    admin = await make_key(fresh_database, "admin")
    account = new_id()
    refused = grant_item(uuid.uuid4().hex, account, 70)
    refused["grant"]["offer_id"] = "refused-by-the-database"
    invalid = grant_item(uuid.uuid4().hex, account, 10)
    invalid["grant"]["amount"] = "ten"
    items: list[Any] = [
        grant_item(uuid.uuid4().hex, account, 1_000),
        invalid,
        {
            "operation": "reversal",
            "idempotency_key": uuid.uuid4().hex,
            "reversal": {"transaction_id": str(uuid.uuid4()), "reason": "no such"},
        },
        {
            "operation": "redemption",
            "idempotency_key": uuid.uuid4().hex,
            "redemption": {
                "account_id": account,
                "unit": "USD",
                "amount": 5_000,
                "invoice_id": "inv-9",
                "require_full": True,
            },
        },
        refused,
        42,
        grant_item(uuid.uuid4().hex, account, 500),
    ]
    try:
        async with httpx.AsyncClient(
            base_url=ledger.url, headers={"Authorization": f"Bearer {admin}"}
        ) as client:
            response = await client.post("/v1/transactions/batch", json={"items": items})
            assert response.status_code == 200, response.text
            results = BatchOut.model_validate(response.json()).results
            assert [r.status for r in results] == [201, 422, 404, 409, 422, 422, 201]
            bodies: list[Any] = [r.body for r in results]
            assert bodies[1]["errors"][0]["pointer"] == "/items/1/grant/amount"
            assert bodies[3]["type"] == problem_type("insufficient-credit")
            assert bodies[4]["type"] == problem_type("unstorable-value")
            assert "test_refused_offer" in bodies[4]["detail"]
            # A problem found while planning points into the batch too, as validation's do.
            past = grant_item(uuid.uuid4().hex, account, 5)
            past["grant"]["expires_at"] = later(-1)
            planned = await client.post("/v1/transactions/batch", json={"items": [items[1], past]})
            pointers = [r["body"]["errors"][0]["pointer"] for r in planned.json()["results"]]
            assert pointers == ["/items/0/grant/amount", "/items/1/grant/expires_at"]
            assert bodies[5]["errors"][0]["pointer"] == "/items/5"

            async def stored() -> tuple[int, int]:
                listed = await client.get("/v1/transactions", params={"account_id": account})
                return await balance(client, account), len(listed.json()["items"])

            assert await stored() == (1_500, 2)  # the two good grants, once each

            again = await client.post("/v1/transactions/batch", json={"items": items})
            assert again.status_code == 200, again.text
            replayed = again.json()["results"]
            assert [r["status"] for r in replayed] == [r.status for r in results]
            for first, repeat in zip(bodies, (r["body"] for r in replayed), strict=True):
                if "type" in first:  # a problem: the same cause again
                    assert (repeat["type"], repeat.get("errors")) == (
                        first["type"],
                        first.get("errors"),
                    )
                else:
                    assert repeat == first
            assert await stored() == (1_500, 2)
    finally:
        ledger.stop()
