"""The credit ledger over HTTP: grants, redemptions, reversals, expiry, balances, audit."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.e2e.test_accounts import new_id


def later(days: float = 90) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def grant(
    ledger: httpx.AsyncClient, account_id: str, amount: int, *, days: float = 90, **extra: Any
) -> dict[str, Any]:
    body = {
        "account_id": account_id,
        "unit": "USD",
        "amount": amount,
        "expires_at": later(days),
        "program_id": "renewal-credit",
        "offer_id": new_id("offer"),
        "tier": "gold",
        **extra,
    }
    response = await ledger.post("/v1/grants", json=body, headers=key())
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def balance(ledger: httpx.AsyncClient, account_id: str, **params: str) -> int:
    response = await ledger.get(f"/v1/balances/{account_id}", params={"unit": "USD", **params})
    assert response.status_code == 200, response.text
    value: int = response.json()["balances"][0]["balance"]
    return value


async def redeem(
    ledger: httpx.AsyncClient,
    account_id: str,
    amount: int,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> httpx.Response:
    body = {
        "account_id": account_id,
        "unit": "USD",
        "amount": amount,
        "invoice_id": new_id("inv"),
        **extra,
    }
    return await ledger.post("/v1/redemptions", json=body, headers=headers or key())


async def test_grant_redeem_fifo_and_balance_as_of(ledger: httpx.AsyncClient) -> None:
    account_id = new_id()
    late = await grant(ledger, account_id, 5_000, days=90)
    soon = await grant(ledger, account_id, 1_000, days=10)
    assert late["transaction"]["postings"] == [
        {"ledger_account_id": "expense:program:renewal-credit:USD", "unit": "USD", "amount": 5000},
        {"ledger_account_id": f"customer:{account_id}:USD", "unit": "USD", "amount": -5000},
    ]
    assert await balance(ledger, account_id) == 6_000
    before_redemption = datetime.now(UTC).isoformat()

    result = (await redeem(ledger, account_id, 1_500)).json()
    assert result["applied"] == 1_500
    assert result["allocations"] == [
        {"lot_id": soon["lot"]["id"], "amount": 1000},
        {"lot_id": late["lot"]["id"], "amount": 500},
    ]
    assert await balance(ledger, account_id) == 4_500
    assert await balance(ledger, account_id, as_of=before_redemption) == 6_000

    lots = (await ledger.get("/v1/lots", params={"account_id": account_id})).json()["items"]
    assert {(lot["remaining"], lot["status"]) for lot in lots} == {(4500, "active"), (0, "used")}
    tx = (await ledger.get(f"/v1/transactions/{result['transaction']['id']}")).json()
    assert tx["kind"] == "redemption"
    assert sum(p["amount"] for p in tx["postings"]) == 0


async def test_redemption_applies_what_there_is_or_refuses_whole(ledger: httpx.AsyncClient) -> None:
    account_id = new_id()
    await grant(ledger, account_id, 300)
    partial = (await redeem(ledger, account_id, 1_000)).json()
    assert (partial["requested"], partial["applied"]) == (1000, 300)
    nothing = (await redeem(ledger, account_id, 50)).json()
    assert (nothing["applied"], nothing["transaction"]) == (0, None)

    other = new_id()
    await grant(ledger, other, 300)
    headers = key()
    invoice = new_id("inv")
    refused = await redeem(ledger, other, 1_000, headers, require_full=True, invoice_id=invoice)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert await balance(ledger, other) == 300
    again = await redeem(ledger, other, 1_000, headers, require_full=True, invoice_id=invoice)
    assert (again.status_code, again.json()) == (409, refused.json())


async def test_unknown_accounts_and_bad_amounts_are_clear_problems(
    ledger: httpx.AsyncClient,
) -> None:
    missing = await redeem(ledger, new_id(), 10)
    assert missing.status_code == 404
    assert "has no USD credit" in missing.json()["detail"]
    assert (await ledger.get(f"/v1/balances/{new_id()}")).status_code == 404
    account_id = new_id()
    for amount, pointer in ((10.5, "/amount"), ("10", "/amount"), (0, "/amount"), (-5, "/amount")):
        response = await ledger.post(
            "/v1/grants",
            json={
                "account_id": account_id,
                "unit": "USD",
                "amount": amount,
                "expires_at": later(),
                "program_id": "p",
            },
            headers=key(),
        )
        assert response.status_code == 422, amount
        assert response.json()["errors"][0]["pointer"] == pointer
    bad_unit = await ledger.post(
        "/v1/grants",
        json={
            "account_id": account_id,
            "unit": "usd",
            "amount": 1,
            "expires_at": later(),
            "program_id": "p",
        },
        headers=key(),
    )
    assert bad_unit.json()["errors"][0]["pointer"] == "/unit"
    past = await ledger.post(
        "/v1/grants",
        json={
            "account_id": account_id,
            "unit": "USD",
            "amount": 1,
            "expires_at": later(-1),
            "program_id": "p",
        },
        headers=key(),
    )
    assert past.json()["errors"][0]["pointer"] == "/expires_at"
    no_key = await ledger.post(
        "/v1/grants",
        json={
            "account_id": account_id,
            "unit": "USD",
            "amount": 1,
            "expires_at": later(),
            "program_id": "p",
        },
    )
    assert no_key.status_code == 422
    assert no_key.json()["errors"][0]["parameter"] == "Idempotency-Key"


async def test_same_key_same_request_returns_the_original(ledger: httpx.AsyncClient) -> None:
    account_id = new_id()
    body = {
        "account_id": account_id,
        "unit": "USD",
        "amount": 700,
        "expires_at": later(),
        "program_id": "p",
        "offer_id": new_id("offer"),
    }
    headers = key()
    first = await ledger.post("/v1/grants", json=body, headers=headers)
    second = await ledger.post("/v1/grants", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert await balance(ledger, account_id) == 700
    changed = await ledger.post("/v1/grants", json={**body, "amount": 701}, headers=headers)
    assert changed.status_code == 422
    assert changed.json()["errors"][0]["parameter"] == "Idempotency-Key"


async def test_twenty_concurrent_requests_with_one_key_make_one_transaction(
    ledger: httpx.AsyncClient,
) -> None:
    account_id = new_id()
    offer = new_id("offer")
    body = {
        "account_id": account_id,
        "unit": "USD",
        "amount": 250,
        "expires_at": later(),
        "program_id": "p",
        "offer_id": offer,
    }
    headers = key()
    responses = await asyncio.gather(
        *(ledger.post("/v1/grants", json=body, headers=headers) for _ in range(20))
    )
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 409}
    created = [r.json() for r in responses if r.status_code == 201]
    assert created
    assert all(c == created[0] for c in created)
    listed = (await ledger.get("/v1/transactions", params={"offer_id": offer})).json()["items"]
    assert len(listed) == 1
    assert await balance(ledger, account_id) == 250


async def test_reversals(ledger: httpx.AsyncClient) -> None:
    account_id = new_id()
    granted = await grant(ledger, account_id, 1_000)
    redeemed = (await redeem(ledger, account_id, 400)).json()
    grant_id = granted["transaction"]["id"]

    undo_grant = await ledger.post(
        f"/v1/transactions/{grant_id}/reverse", json={"reason": "sent in error"}, headers=key()
    )
    assert undo_grant.status_code == 200, undo_grant.text
    assert undo_grant.json()["reversed_amount"] == 600
    assert undo_grant.json()["transaction"]["reverses_id"] == grant_id
    assert await balance(ledger, account_id) == 0

    twice = await ledger.post(
        f"/v1/transactions/{grant_id}/reverse", json={"reason": "again"}, headers=key()
    )
    assert twice.status_code == 409
    reversal_id = undo_grant.json()["transaction"]["id"]
    of_reversal = await ledger.post(
        f"/v1/transactions/{reversal_id}/reverse", json={"reason": "x"}, headers=key()
    )
    assert of_reversal.status_code == 409

    undo_redemption = await ledger.post(
        f"/v1/transactions/{redeemed['transaction']['id']}/reverse",
        json={"reason": "invoice voided"},
        headers=key(),
    )
    assert undo_redemption.json()["reversed_amount"] == 400
    lots = (await ledger.get("/v1/lots", params={"account_id": account_id})).json()["items"]
    assert [lot["remaining"] for lot in lots] == [400]  # back into the lot it came from
    assert await balance(ledger, account_id) == 400
    missing = await ledger.post(
        f"/v1/transactions/{uuid.uuid4()}/reverse", json={"reason": "x"}, headers=key()
    )
    assert missing.status_code == 404


async def test_expiry_moves_the_remainder_to_breakage_once(ledger: httpx.AsyncClient) -> None:
    account_id = new_id()
    program = new_id("program")
    short = await grant(ledger, account_id, 900, days=1.5 / 86400, program_id=program)
    await grant(ledger, account_id, 100, program_id=program)
    await redeem(ledger, account_id, 200)  # takes 200 from the lot expiring first
    expired_at = datetime.fromisoformat(short["lot"]["expires_at"])
    # Wait out the lot's life (1.5 s): the run below may only expire what is past its date.
    await asyncio.sleep((expired_at - datetime.now(UTC)).total_seconds() + 0.05)
    # Swept or not yet, the expired lot's 700 is not available to redeem.
    before = (await ledger.get(f"/v1/balances/{account_id}")).json()["balances"][0]
    assert before["available"] == 100
    assert before["balance"] in (800, 100)
    run = (await ledger.post("/v1/expirations/run", json={})).json()
    assert run["expired_lots"] >= 1
    assert await balance(ledger, account_id) == 100
    lots = (
        await ledger.get("/v1/lots", params={"account_id": account_id, "status": "expired"})
    ).json()
    assert [(lot["id"], lot["remaining"]) for lot in lots["items"]] == [(short["lot"]["id"], 0)]
    expiries = (
        await ledger.get("/v1/transactions", params={"account_id": account_id, "kind": "expiry"})
    ).json()
    assert len(expiries["items"]) == 1
    assert {p["ledger_account_id"]: p["amount"] for p in expiries["items"][0]["postings"]} == {
        f"customer:{account_id}:USD": 700,
        f"breakage:program:{program}:USD": -700,
    }
    again = await ledger.post("/v1/expirations/run", json={})
    listed = (
        await ledger.get("/v1/transactions", params={"account_id": account_id, "kind": "expiry"})
    ).json()
    assert len(listed["items"]) == 1
    assert again.status_code == 200
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert (await ledger.post("/v1/expirations/run", json={"as_of": future})).status_code == 422


async def test_concurrent_redemptions_never_overdraw(ledger: httpx.AsyncClient) -> None:
    account_id = new_id()
    await grant(ledger, account_id, 1_000)
    await grant(ledger, account_id, 550)
    results = await asyncio.gather(*(redeem(ledger, account_id, 100) for _ in range(32)))
    assert all(r.status_code == 200 for r in results), [
        r.text for r in results if r.status_code != 200
    ]
    assert sum(r.json()["applied"] for r in results) == 1_550
    assert await balance(ledger, account_id) == 0


async def test_audit_verifies_the_whole_ledger(ledger: httpx.AsyncClient) -> None:
    account_id = new_id()
    await grant(ledger, account_id, 10)
    await redeem(ledger, account_id, 5)
    audit = (await ledger.get("/v1/audit/verify")).json()
    assert audit["ok"] is True, audit
    assert audit["first_break"] is None
    assert audit["transactions_checked"] >= 2


async def test_scopes_guard_the_ledger(ledger: httpx.AsyncClient, platform: Any) -> None:
    from tests.conftest import make_key

    reader = await make_key(platform.database_url, "ledger:read")
    async with platform.client("ledger", key=reader) as client:
        refused = await client.post("/v1/redemptions", json={}, headers=key())
        assert refused.status_code == 403
    assert time.time() > 0
