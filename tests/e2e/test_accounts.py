"""Accounts and users from the CRM."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx


def account(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Acme Corp",
        "industry": "software",
        "region": "emea",
        "motion_segment": "mid_market",
        "plan": "growth",
        "billing_period": "monthly",
        "mrr_minor": 250_000,
        "currency": "EUR",
        "seats_purchased": 40,
        "contract_start": (datetime.now(UTC).date() - timedelta(days=365)).isoformat(),
        "renewal_date": (datetime.now(UTC).date() + timedelta(days=30)).isoformat(),
        "status": "active",
    }
    body.update(overrides)
    return body


def new_id(prefix: str = "acct") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def test_put_creates_then_replaces(ingest: httpx.AsyncClient) -> None:
    account_id = new_id()
    created = await ingest.put(f"/v1/accounts/{account_id}", json=account())
    assert created.status_code == 201
    replaced = await ingest.put(f"/v1/accounts/{account_id}", json=account(seats_purchased=55))
    assert replaced.status_code == 200
    fetched = (await ingest.get(f"/v1/accounts/{account_id}")).json()
    assert fetched["seats_purchased"] == 55
    assert fetched["mrr_minor"] == 250_000
    assert fetched["currency"] == "EUR"


async def test_invalid_fields_are_named(ingest: httpx.AsyncClient) -> None:
    response = await ingest.put(
        f"/v1/accounts/{new_id()}",
        json=account(motion_segment="galactic", mrr_minor=-5, currency="euro", seats_purchased=1.5),
    )
    assert response.status_code == 422
    pointers = {e["pointer"] for e in response.json()["errors"]}
    assert {"/motion_segment", "/mrr_minor", "/currency", "/seats_purchased"} <= pointers


async def test_money_as_float_is_refused(ingest: httpx.AsyncClient) -> None:
    response = await ingest.put(f"/v1/accounts/{new_id()}", json=account(mrr_minor=100.5))
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/mrr_minor"


async def test_renewal_must_follow_contract_start(ingest: httpx.AsyncClient) -> None:
    response = await ingest.put(
        f"/v1/accounts/{new_id()}",
        json=account(contract_start="2026-05-01", renewal_date="2026-04-01"),
    )
    assert response.status_code == 422
    assert "renewal_date" in response.text


async def test_malformed_json_is_a_400(ingest: httpx.AsyncClient) -> None:
    response = await ingest.put(
        f"/v1/accounts/{new_id()}",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


async def test_missing_account_is_a_404(ingest: httpx.AsyncClient) -> None:
    response = await ingest.get(f"/v1/accounts/{new_id()}")
    assert response.status_code == 404


async def test_batch_upsert_and_filtered_list_with_cursor(ingest: httpx.AsyncClient) -> None:
    region = new_id("region")
    ids = [new_id() for _ in range(5)]
    batch = [{"external_id": i, **account(region=region, status="trial")} for i in ids]
    first = await ingest.post("/v1/accounts/batch", json={"accounts": batch})
    assert first.json() == {"created": 5, "updated": 0}
    again = await ingest.post("/v1/accounts/batch", json={"accounts": batch})
    assert again.json() == {"created": 0, "updated": 5}

    seen: list[str] = []
    cursor = None
    since = (await ingest.get(f"/v1/accounts/{ids[0]}")).json()["updated_at"]
    while True:
        params: dict[str, Any] = {"status": "trial", "limit": 2, "updated_since": since}
        if cursor:
            params["cursor"] = cursor
        page = (await ingest.get("/v1/accounts", params=params)).json()
        seen += [a["external_id"] for a in page["items"] if a["region"] == region]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids)


async def test_batch_with_one_bad_account_changes_nothing(ingest: httpx.AsyncClient) -> None:
    good, bad = new_id(), new_id()
    response = await ingest.post(
        "/v1/accounts/batch",
        json={
            "accounts": [
                {"external_id": good, **account()},
                {"external_id": bad, **account(status="zombie")},
            ]
        },
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/accounts/1/status"
    assert (await ingest.get(f"/v1/accounts/{good}")).status_code == 404


async def test_users_belong_to_accounts(ingest: httpx.AsyncClient) -> None:
    account_id, user_id = new_id(), new_id("user")
    await ingest.put(f"/v1/accounts/{account_id}", json=account())
    put = await ingest.put(
        f"/v1/users/{user_id}",
        json={"account_id": account_id, "email": "ada@example.com", "role": "admin"},
    )
    assert put.status_code == 201
    listed = (await ingest.get("/v1/users", params={"account_id": account_id})).json()
    assert [u["external_id"] for u in listed["items"]] == [user_id]


async def test_a_user_cannot_be_linked_to_an_unknown_account(ingest: httpx.AsyncClient) -> None:
    ghost, user_id = new_id("ghost"), new_id("user")
    # An event waits for the user's account; a link to a ghost must not take it there.
    waiting = {
        "id": f"evt-{uuid.uuid4().hex}",
        "user_id": user_id,
        "name": "login",
        "timestamp": "2026-11-20T09:00:00Z",
    }
    assert (await ingest.post("/v1/events", json={"events": [waiting]})).json()["accepted"] == 1
    refused = await ingest.put(f"/v1/users/{user_id}", json={"account_id": ghost})
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["type"] == "https://tenure.dev/problems/unknown-account"
    assert problem["errors"][0]["pointer"] == "/account_id"
    assert (await ingest.get(f"/v1/users/{user_id}")).status_code == 404

    account_id, other = new_id(), new_id("user")
    await ingest.put(f"/v1/accounts/{account_id}", json=account())
    batch = {
        "users": [
            {"external_id": user_id, "account_id": ghost},
            {"external_id": other, "account_id": account_id},
        ]
    }
    result = await ingest.post("/v1/users/batch", json=batch)
    assert result.status_code == 200
    body = result.json()
    assert (body["created"], body["updated"]) == (1, 0)
    assert [(r["index"], r["id"], r["field"]) for r in body["rejected"]] == [
        (0, user_id, "account_id")
    ]
    assert (await ingest.get(f"/v1/users/{other}")).json()["account_id"] == account_id
    assert (await ingest.get(f"/v1/users/{user_id}")).status_code == 404

    # Linked to the real account, the waiting event lands there, not on the ghost.
    linked = await ingest.put(f"/v1/users/{user_id}", json={"account_id": account_id})
    assert linked.status_code == 201
    query = {"account_ids": [account_id, ghost], "days": 30, "as_of": "2026-11-25"}
    signals = (await ingest.post("/v1/signals/query", json=query)).json()["accounts"]
    assert [sum(r["events"] for r in a["rollups"]) for a in signals] == [1, 0]
