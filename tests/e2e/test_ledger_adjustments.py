"""Manual adjustments with explicit postings (admin only)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from shared.errors import problem_type
from tests.conftest import Platform, make_key
from tests.e2e.test_accounts import new_id
from tests.e2e.test_ledger import balance, grant, key, later, redeem


def adjustment(lines: list[tuple[str, int]], **extra: Any) -> dict[str, Any]:
    return {
        "postings": [{"ledger_account_id": a, "unit": "USD", "amount": n} for a, n in lines],
        "reason": "goodwill",
        **extra,
    }


async def test_credit_debit_and_reverse_an_adjustment(ledger: httpx.AsyncClient) -> None:
    account = new_id()
    customer = f"customer:{account}:USD"
    credit = await ledger.post(
        "/v1/transactions",
        json=adjustment([("adjustments:USD", 400), (customer, -400)], expires_at=later()),
        headers=key(),
    )
    assert credit.status_code == 201, credit.text
    assert credit.json()["kind"] == "adjustment"
    assert await balance(ledger, account) == 400
    lots = (await ledger.get("/v1/lots", params={"account_id": account})).json()["items"]
    assert [lot["amount"] for lot in lots] == [400]

    debit = await ledger.post(
        "/v1/transactions",
        json=adjustment([(customer, 150), ("adjustments:USD", -150)]),
        headers=key(),
    )
    assert debit.status_code == 201, debit.text
    assert await balance(ledger, account) == 250
    too_much = await ledger.post(
        "/v1/transactions",
        json=adjustment([(customer, 900), ("adjustments:USD", -900)]),
        headers=key(),
    )
    assert too_much.status_code == 409
    assert await balance(ledger, account) == 250

    undo = await ledger.post(
        f"/v1/transactions/{debit.json()['id']}/reverse", json={"reason": "mistake"}, headers=key()
    )
    assert undo.status_code == 200, undo.text
    assert await balance(ledger, account) == 400
    audit = (await ledger.get("/v1/audit/verify")).json()
    assert audit["ok"], audit


async def test_adjustments_are_checked(ledger: httpx.AsyncClient, platform: Platform) -> None:
    account = new_id()
    customer = f"customer:{account}:USD"
    unbalanced = await ledger.post(
        "/v1/transactions",
        json=adjustment([("adjustments:USD", 5), (customer, -4)], expires_at=later()),
        headers=key(),
    )
    assert unbalanced.status_code == 422
    assert unbalanced.json()["errors"][0]["pointer"] == "/postings"
    wrong = await ledger.post(
        "/v1/transactions",
        json=adjustment([("bank:USD", 5), ("adjustments:USD", -5)]),
        headers=key(),
    )
    assert wrong.json()["errors"][0]["pointer"] == "/postings/0/ledger_account_id"
    no_expiry = await ledger.post(
        "/v1/transactions", json=adjustment([("adjustments:USD", 5), (customer, -5)]), headers=key()
    )
    assert no_expiry.json()["errors"][0]["pointer"] == "/expires_at"
    other = new_id()
    await grant(ledger, other, 100)
    two_customers = await ledger.post(
        "/v1/transactions",
        json=adjustment([(f"customer:{other}:USD", 50), (customer, -50)], expires_at=later()),
        headers=key(),
    )
    assert two_customers.status_code == 422
    system_only = await ledger.post(
        "/v1/transactions",
        json=adjustment([("adjustments:USD", 70), ("breakage:program:p:USD", -70)]),
        headers=key(),
    )
    assert system_only.status_code == 201
    assert system_only.json()["chain_key"] == "system"
    writer = await make_key(platform.database_url, "ledger:write")
    async with platform.client("ledger", key=writer) as client:
        refused = await client.post(
            "/v1/transactions",
            json=adjustment([("adjustments:USD", 1), ("breakage:program:p:USD", -1)]),
            headers=key(),
        )
    assert refused.status_code == 403


async def test_a_multi_line_credit_adjustment_reverses_what_is_left_after_a_redemption(
    ledger: httpx.AsyncClient,
) -> None:
    account = new_id()
    customer = f"customer:{account}:USD"
    credit = await ledger.post(
        "/v1/transactions",
        json=adjustment(
            [("adjustments:USD", 300), ("expense:program:goodwill:USD", 100), (customer, -400)],
            expires_at=later(),
        ),
        headers=key(),
    )
    assert credit.status_code == 201, credit.text
    redeemed = await redeem(ledger, account, 150)
    assert redeemed.json()["applied"] == 150

    headers = key()
    undo = await ledger.post(
        f"/v1/transactions/{credit.json()['id']}/reverse", json={"reason": "error"}, headers=headers
    )
    assert undo.status_code == 200, undo.text
    assert undo.json()["reversed_amount"] == 250
    postings = {p["ledger_account_id"]: p["amount"] for p in undo.json()["transaction"]["postings"]}
    # 250/400 of each line: 187.5 and 62.5 of a minor unit, rounded so the sum stays zero.
    assert postings == {
        "adjustments:USD": -187,
        "expense:program:goodwill:USD": -63,
        customer: 250,
    }
    assert await balance(ledger, account) == 0
    again = await ledger.post(
        f"/v1/transactions/{credit.json()['id']}/reverse", json={"reason": "error"}, headers=headers
    )
    assert (again.status_code, again.json()) == (200, undo.json())
    audit = (await ledger.get("/v1/audit/verify")).json()
    assert audit["ok"], audit


async def test_every_reversal_refusal_is_not_reversible(ledger: httpx.AsyncClient) -> None:
    account = new_id()
    used = await grant(ledger, account, 100)
    redemption = (await redeem(ledger, account, 100)).json()  # all of it
    short = await grant(ledger, account, 40, days=1 / 86400)
    expires = datetime.fromisoformat(short["lot"]["expires_at"])
    # Wait out the lot's life (a second): a run may only expire what is past its date.
    await asyncio.sleep(max((expires - datetime.now(UTC)).total_seconds(), 0) + 0.05)
    run = await ledger.post("/v1/expirations/run", json={})
    assert run.status_code == 200, run.text
    expiries = await ledger.get(
        "/v1/transactions", params={"account_id": account, "kind": "expiry"}
    )
    (expiry,) = expiries.json()["items"]

    async def reverse(transaction_id: str) -> httpx.Response:
        return await ledger.post(
            f"/v1/transactions/{transaction_id}/reverse", json={"reason": "x"}, headers=key()
        )

    def refused(response: httpx.Response) -> bool:
        return (
            response.status_code == 409
            and response.json()["type"] == problem_type("not-reversible")
            and "cannot be reversed" in response.json()["detail"]
        )

    assert refused(await reverse(used["transaction"]["id"]))  # fully redeemed
    assert refused(await reverse(short["transaction"]["id"]))  # expired
    assert refused(await reverse(expiry["id"]))
    undone = await reverse(redemption["transaction"]["id"])
    assert undone.status_code == 200, undone.text
    assert refused(await reverse(redemption["transaction"]["id"]))  # twice
    assert refused(await reverse(undone.json()["transaction"]["id"]))  # a reversal
    assert (await reverse(used["transaction"]["id"])).status_code == 200  # 100 given back
    assert await balance(ledger, account) == 0


async def test_reversing_an_adjustment_and_running_expiry_need_the_admin_scope(
    ledger: httpx.AsyncClient, platform: Platform
) -> None:
    account = new_id()
    credit = await ledger.post(
        "/v1/transactions",
        json=adjustment(
            [("adjustments:USD", 80), (f"customer:{account}:USD", -80)], expires_at=later()
        ),
        headers=key(),
    )
    assert credit.status_code == 201, credit.text
    path = f"/v1/transactions/{credit.json()['id']}/reverse"
    headers = key()
    writer = await make_key(platform.database_url, "ledger:write")
    async with platform.client("ledger", key=writer) as client:
        refused = await client.post(path, json={"reason": "mine now"}, headers=headers)
        assert refused.status_code == 403, refused.text
        item = {
            "operation": "reversal",
            "idempotency_key": uuid.uuid4().hex,
            "reversal": {"transaction_id": credit.json()["id"], "reason": "in a batch"},
        }
        batch = await client.post("/v1/transactions/batch", json={"items": [item]})
        assert batch.json()["results"][0]["status"] == 403
        assert (await client.post("/v1/expirations/run", json={})).status_code == 403
        granted = await grant(client, account, 5)  # what ledger:write may reverse, it may
        undo = await client.post(
            f"/v1/transactions/{granted['transaction']['id']}/reverse",
            json={"reason": "x"},
            headers=key(),
        )
        assert undo.status_code == 200, undo.text
    assert await balance(ledger, account) == 80
    # The 403 was not kept under the key: the same principal, given the scope, retries.
    admin = await make_key(platform.database_url, "admin")  # same principal name as ``writer``
    async with platform.client("ledger", key=admin) as client:
        allowed = await client.post(path, json={"reason": "mine now"}, headers=headers)
    assert allowed.status_code == 200, allowed.text
    assert await balance(ledger, account) == 0
