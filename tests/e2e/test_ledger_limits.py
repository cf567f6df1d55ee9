"""The ledger's edges: the largest amounts and balances, and times at the ends of the calendar."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import orjson

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


OUT_OF_RANGE = ("9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00")
NAIVE = "2030-01-01T00:00:00"


async def test_body_times_must_name_an_instant_inside_the_calendar(
    ledger: httpx.AsyncClient,
) -> None:
    account = new_id()
    customer = f"customer:{account}:USD"
    for value in (*OUT_OF_RANGE, NAIVE):
        granted = await ledger.post(
            "/v1/grants", json=grant_body(account, 5, expires_at=value), headers=key()
        )
        assert (granted.status_code, pointers(granted)) == (422, ["/expires_at"]), value
        adjusted = await ledger.post(
            "/v1/transactions",
            json={
                "postings": [
                    {"ledger_account_id": "adjustments:USD", "unit": "USD", "amount": 5},
                    {"ledger_account_id": customer, "unit": "USD", "amount": -5},
                ],
                "reason": "goodwill",
                "expires_at": value,
            },
            headers=key(),
        )
        assert (adjusted.status_code, pointers(adjusted)) == (422, ["/expires_at"]), value
        item = grant_item(uuid.uuid4().hex, account, 5)
        item["grant"]["expires_at"] = value
        batch = await ledger.post("/v1/transactions/batch", json={"items": [item]})
        (result,) = batch.json()["results"]
        assert result["status"] == 422, value
        assert result["body"]["errors"][0]["pointer"] == "/items/0/grant/expires_at"
        run = await ledger.post("/v1/expirations/run", json={"as_of": value})
        assert (run.status_code, pointers(run)) == (422, ["/as_of"]), value
    # The last instant of the calendar is a fine (if patient) expiry.
    last = await ledger.post(
        "/v1/grants",
        json=grant_body(account, 5, expires_at="9999-12-31T23:59:59+01:00"),
        headers=key(),
    )
    assert last.status_code == 201, last.text
    assert last.json()["lot"]["expires_at"] == "9999-12-31T22:59:59Z"
    long_tier = await ledger.post(
        "/v1/grants", json=grant_body(account, 5, tier="t" * 41), headers=key()
    )
    assert (long_tier.status_code, pointers(long_tier)) == (422, ["/tier"])


async def test_query_times_must_name_an_instant_inside_the_calendar(
    ledger: httpx.AsyncClient,
) -> None:
    account = new_id()
    await grant(ledger, account, 100)
    for value in (*OUT_OF_RANGE, NAIVE):
        as_of = await ledger.get(f"/v1/balances/{account}", params={"as_of": value})
        assert (as_of.status_code, pointers(as_of)) == (422, ["as_of"]), value
        for name, other in (("from", "to"), ("to", "from")):
            statement = await ledger.get(
                f"/v1/accounts/{account}/statement",
                params={"unit": "USD", name: value, other: later()},
            )
            assert (statement.status_code, pointers(statement)) == (422, [name]), value
    offset = await ledger.get(
        f"/v1/balances/{account}", params={"as_of": "2999-01-01T00:00:00+05:00"}
    )
    assert offset.status_code == 200, offset.text
    assert offset.json()["balances"][0]["balance"] == 100


async def test_metadata_numbers_jsonb_would_change_are_refused_and_the_audit_holds(
    ledger: httpx.AsyncClient,
) -> None:
    # The hash covers the metadata as sent; jsonb would give these back changed (or the codecs
    # could not read them), so the audit would cry tamper or fail. They are refused instead.
    account = new_id()
    for raw in ("-0.0", "1e20", "123456789012345678901234567890", "NaN", "Infinity"):
        body = (
            orjson.dumps(grant_body(account, 10)).decode()[:-1] + f', "metadata": {{"v": {raw}}}}}'
        )
        response = await ledger.post(
            "/v1/grants",
            content=body,
            headers={**key(), "Content-Type": "application/json"},
        )
        assert response.status_code == 422, (raw, response.text)
        assert pointers(response) == ["/metadata"]
    kept = await ledger.post(
        "/v1/grants",
        json=grant_body(account, 10, metadata={"v": 1.5, "n": -(2**63)}),
        headers=key(),
    )
    assert kept.status_code == 201, kept.text
    audit = (await ledger.get("/v1/audit/verify")).json()
    assert audit["ok"] is True, audit


async def test_every_account_id_the_ledger_takes_its_paths_can_name(
    ledger: httpx.AsyncClient,
) -> None:
    for bad in (" ", "a/b", " padded", "tab\there"):
        refused = await ledger.post("/v1/grants", json=grant_body(bad, 10), headers=key())
        assert refused.status_code == 422, bad
        assert pointers(refused) == ["/account_id"]
    colon = f"sf:{uuid.uuid4().hex}"
    assert (
        await ledger.post("/v1/grants", json=grant_body(colon, 10), headers=key())
    ).status_code == 201
    adjustment = await ledger.post(
        "/v1/transactions",
        json={
            "postings": [
                {"ledger_account_id": f"customer:{colon}:USD", "unit": "USD", "amount": 4},
                {"ledger_account_id": "adjustments:USD", "unit": "USD", "amount": -4},
            ],
            "reason": "an id with a colon",
        },
        headers=key(),
    )
    assert adjustment.status_code == 201, adjustment.text
    assert await balance(ledger, colon) == 6
