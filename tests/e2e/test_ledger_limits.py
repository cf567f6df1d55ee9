"""The ledger's edges: the largest amounts and balances, and times at the ends of the calendar."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from services.ledger.domain.amounts import MAX_AMOUNT_MINOR, MAX_BALANCE_MINOR
from tests.e2e.test_accounts import new_id
from tests.e2e.test_ledger import balance, grant, key, later, redeem
from tests.e2e.test_ledger_batch import grant_item

INT64_MAX = 9_223_372_036_854_775_807


def grant_body(account_id: str, amount: int, **changes: Any) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "unit": "USD",
        "amount": amount,
        "expires_at": later(),
        "program_id": "limits",
        **changes,
    }


def pointers(response: httpx.Response) -> list[str]:
    return [e.get("pointer") or e.get("parameter") for e in response.json()["errors"]]


async def test_every_amount_is_bounded_and_named(ledger: httpx.AsyncClient) -> None:
    account = new_id()
    await grant(ledger, account, 1_000)
    for amount in (INT64_MAX, MAX_AMOUNT_MINOR + 1):
        huge = await ledger.post("/v1/grants", json=grant_body(account, amount), headers=key())
        assert huge.status_code == 422, huge.text
        assert pointers(huge) == ["/amount"]
        redemption = await redeem(ledger, account, amount)
        assert (redemption.status_code, pointers(redemption)) == (422, ["/amount"])
        adjustment = await ledger.post(
            "/v1/transactions",
            json={
                "postings": [
                    {
                        "ledger_account_id": f"customer:{account}:USD",
                        "unit": "USD",
                        "amount": amount,
                    },
                    {"ledger_account_id": "adjustments:USD", "unit": "USD", "amount": -amount},
                ],
                "reason": "huge",
            },
            headers=key(),
        )
        assert adjustment.status_code == 422, adjustment.text
        assert set(pointers(adjustment)) == {"/postings/0/amount", "/postings/1/amount"}
    assert await balance(ledger, account) == 1_000


async def test_a_balance_can_reach_its_bound_and_not_pass_it(ledger: httpx.AsyncClient) -> None:
    account = new_id()
    count = MAX_BALANCE_MINOR // MAX_AMOUNT_MINOR  # the largest grants, a thousand of them
    items = [grant_item(uuid.uuid4().hex, account, MAX_AMOUNT_MINOR) for _ in range(count)]
    batch = await ledger.post("/v1/transactions/batch", json={"items": items})
    assert batch.status_code == 200, batch.text
    assert {r["status"] for r in batch.json()["results"]} == {201}
    assert await balance(ledger, account) == MAX_BALANCE_MINOR

    past = await ledger.post("/v1/grants", json=grant_body(account, 1), headers=key())
    assert past.status_code == 422, past.text
    assert pointers(past) == ["/amount"]
    assert "past the maximum" in past.json()["errors"][0]["detail"]
    in_batch = await ledger.post(
        "/v1/transactions/batch", json={"items": [grant_item(uuid.uuid4().hex, account, 5)]}
    )
    assert in_batch.json()["results"][0]["status"] == 422
    credit = await ledger.post(
        "/v1/transactions",
        json={
            "postings": [
                {"ledger_account_id": "adjustments:USD", "unit": "USD", "amount": 1},
                {"ledger_account_id": f"customer:{account}:USD", "unit": "USD", "amount": -1},
            ],
            "reason": "goodwill",
            "expires_at": later(),
        },
        headers=key(),
    )
    assert (credit.status_code, pointers(credit)) == (422, ["/postings"])
    assert await balance(ledger, account) == MAX_BALANCE_MINOR

    used = await redeem(ledger, account, MAX_AMOUNT_MINOR)
    assert (used.status_code, used.json()["applied"]) == (200, MAX_AMOUNT_MINOR)
    liability = await ledger.get("/v1/reports/liability")
    assert liability.status_code == 200
    assert liability.json()["totals"]["USD"] >= MAX_BALANCE_MINOR - MAX_AMOUNT_MINOR
    statement = await ledger.get(
        f"/v1/accounts/{account}/statement",
        params={"unit": "USD", "from": later(-1), "to": later(1), "limit": 1},
    )
    assert statement.status_code == 200, statement.text
    assert statement.json()["closing_balance"] == MAX_BALANCE_MINOR - MAX_AMOUNT_MINOR
