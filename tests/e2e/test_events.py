"""Native event intake: event by event, idempotent, rolled up per day, never lost."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from tests.e2e.test_accounts import account, new_id


def event(account_id: str, name: str, ts: str, user: str = "u1", **extra: Any) -> dict[str, Any]:
    return {
        "id": f"evt-{uuid.uuid4().hex}",
        "account_id": account_id,
        "user_id": user,
        "name": name,
        "timestamp": ts,
        "properties": {},
        **extra,
    }


async def make_account(ingest: httpx.AsyncClient) -> str:
    account_id = new_id()
    assert (await ingest.put(f"/v1/accounts/{account_id}", json=account())).status_code == 201
    return account_id


async def rollups(ingest: httpx.AsyncClient, account_id: str, as_of: str) -> dict[str, Any]:
    body = {"account_ids": [account_id], "days": 30, "as_of": as_of}
    response = await ingest.post("/v1/signals/query", json=body)
    assert response.status_code == 200
    return {r["day"]: r for r in response.json()["accounts"][0]["rollups"]}


async def test_batch_reports_accepted_duplicates_and_rejected(ingest: httpx.AsyncClient) -> None:
    account_id = await make_account(ingest)
    good = event(account_id, "login", "2026-11-20T09:00:00Z")
    batch = [
        good,
        event(account_id, "", "2026-11-20T09:00:00Z"),
        event(account_id, "login", "not-a-time"),
        event(new_id(), "login", "2026-11-20T09:00:00Z"),
    ]
    first = await ingest.post("/v1/events", json={"events": batch})
    assert first.status_code == 200
    body = first.json()
    assert body["accepted"] == 1
    assert body["duplicates"] == 0
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [
        (1, "name"),
        (2, "timestamp"),
        (3, "account_id"),
    ]
    again = (await ingest.post("/v1/events", json={"events": [good]})).json()
    assert again == {"accepted": 0, "duplicates": 1, "rejected": []}


async def test_rejected_events_are_kept_with_reason(ingest: httpx.AsyncClient) -> None:
    ghost = new_id("ghost")
    bad = event(ghost, "login", "2026-11-20T09:00:00Z")
    await ingest.post("/v1/events", json={"events": [bad]})
    kept = (await ingest.get("/v1/rejected", params={"reason_contains": ghost})).json()["items"]
    assert len(kept) == 1
    assert kept[0]["event_id"] == bad["id"]
    assert kept[0]["raw"] == bad
    assert kept[0]["field"] == "account_id"


async def test_rollups_count_each_day_including_late_events(ingest: httpx.AsyncClient) -> None:
    account_id = await make_account(ingest)
    today = [
        event(account_id, "login", "2026-11-20T09:00:00Z", user="ann"),
        event(account_id, "login", "2026-11-20T10:00:00Z", user="bob"),
        event(account_id, "report_created", "2026-11-20T11:00:00Z", user="ann"),
        event(account_id, "dashboard_viewed", "2026-11-20T12:00:00Z", user="ann"),
        event(account_id, "integration_connected", "2026-11-20T23:59:59Z", user="bob"),
    ]
    await ingest.post("/v1/events", json={"events": today})
    late = [event(account_id, "export", "2026-11-18T08:00:00+02:00", user="cy")]
    await ingest.post("/v1/events", json={"events": late})

    days = await rollups(ingest, account_id, "2026-11-20")
    assert days["2026-11-20"]["events"] == 5
    assert days["2026-11-20"]["logins"] == 2
    assert days["2026-11-20"]["active_users"] == 2
    assert days["2026-11-20"]["key_actions"] == 1
    assert days["2026-11-20"]["core_features"] == 2
    assert days["2026-11-20"]["integrations"] == 1
    assert days["2026-11-18"]["exports"] == 1  # 08:00+02:00 is 06:00 UTC on the 18th
    assert days["2026-11-18"]["active_users"] == 1


async def test_concurrent_retries_store_each_event_once(ingest: httpx.AsyncClient) -> None:
    account_id = await make_account(ingest)
    events = [event(account_id, "login", "2026-11-19T09:00:00Z", user=f"u{i}") for i in range(50)]
    results = await asyncio.gather(
        *(ingest.post("/v1/events", json={"events": events}) for _ in range(6))
    )
    assert all(r.status_code == 200 for r in results)
    assert sum(r.json()["accepted"] for r in results) == 50
    days = await rollups(ingest, account_id, "2026-11-19")
    assert days["2026-11-19"]["logins"] == 50
    assert days["2026-11-19"]["active_users"] == 50


async def test_future_timestamps_are_rejected(ingest: httpx.AsyncClient) -> None:
    account_id = await make_account(ingest)
    future = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    body = (
        await ingest.post("/v1/events", json={"events": [event(account_id, "x", future)]})
    ).json()
    assert body["rejected"][0]["field"] == "timestamp"


async def test_batch_limits(ingest: httpx.AsyncClient) -> None:
    account_id = await make_account(ingest)
    too_many = [event(account_id, "x", "2026-11-19T09:00:00Z") for _ in range(1001)]
    assert (await ingest.post("/v1/events", json={"events": too_many})).status_code == 413
    huge = {
        "events": [
            event(account_id, "x", "2026-11-19T09:00:00Z", properties={"p": "x" * 1_100_000})
        ]
    }
    assert (await ingest.post("/v1/events", json=huge)).status_code == 413
    not_json = await ingest.post(
        "/v1/events", content=b"{{{", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 400
    no_list = await ingest.post("/v1/events", json={"events": "nope"})
    assert no_list.status_code == 422
    assert no_list.json()["errors"][0]["pointer"] == "/events"


async def test_events_of_unlinked_users_are_attributed_when_linked(
    ingest: httpx.AsyncClient,
) -> None:
    account_id = await make_account(ingest)
    user = new_id("user")
    pending = {**event(account_id, "login", "2026-11-17T09:00:00Z", user=user), "account_id": None}
    accepted = (await ingest.post("/v1/events", json={"events": [pending]})).json()
    assert accepted["accepted"] == 1
    assert "2026-11-17" not in await rollups(ingest, account_id, "2026-11-20")
    await ingest.put(f"/v1/users/{user}", json={"account_id": account_id})
    days = await rollups(ingest, account_id, "2026-11-20")
    assert days["2026-11-17"]["logins"] == 1


async def test_signals_for_many_accounts_in_one_call(ingest: httpx.AsyncClient) -> None:
    ids = [await make_account(ingest) for _ in range(3)]
    missing = new_id()
    response = await ingest.post(
        "/v1/signals/query", json={"account_ids": [*ids, missing], "days": 7}
    )
    accounts = response.json()["accounts"]
    assert [a["account_id"] for a in accounts] == [*ids, missing]
    assert accounts[0]["account"]["seats_purchased"] == 40
    assert accounts[-1]["account"] is None
    too_long = await ingest.post("/v1/signals/query", json={"account_ids": ids, "days": 401})
    assert too_long.status_code == 422


async def test_event_map_is_versioned_and_applies_to_new_events(ingest: httpx.AsyncClient) -> None:
    account_id = await make_account(ingest)
    before = (await ingest.get("/v1/config/event-map")).json()
    custom = {
        **{
            k: before[k]
            for k in (
                "logins",
                "key_actions",
                "core_features",
                "integrations",
                "api_calls",
                "exports",
            )
        }
    }
    name = f"custom_action_{uuid.uuid4().hex[:6]}"
    custom["key_actions"] = [*custom["key_actions"], name]
    updated = (await ingest.put("/v1/config/event-map", json=custom)).json()
    assert updated["version"] > before["version"]
    await ingest.post(
        "/v1/events", json={"events": [event(account_id, name, "2026-11-16T09:00:00Z")]}
    )
    days = await rollups(ingest, account_id, "2026-11-20")
    assert days["2026-11-16"]["key_actions"] == 1
    assert date.fromisoformat("2026-11-16")


async def test_nul_characters_are_refused_by_field_and_the_event_kept(
    ingest: httpx.AsyncClient,
) -> None:
    account_id = await make_account(ingest)
    bad = event(account_id, "login", "2026-11-20T09:00:00Z", properties={"note": "a\x00b"})
    response = await ingest.post("/v1/events", json={"events": [bad]})
    body = response.json()
    assert response.status_code == 200, body
    assert body["rejected"] == [
        {
            "index": 0,
            "id": bad["id"],
            "reason": "must not contain NUL characters (\\u0000)",
            "field": "properties",
        }
    ]
    kept = (await ingest.get("/v1/rejected", params={"reason_contains": "NUL"})).json()["items"]
    assert any(
        k["event_id"] == bad["id"] and k["raw"]["properties"]["note"] == "a\ufffdb" for k in kept
    )
    user = await ingest.put(f"/v1/users/{new_id('u')}", json={"name": "x\x00"})
    assert user.status_code == 422
    assert user.json()["errors"][0]["pointer"] == "/name"
    huge = await ingest.put(f"/v1/accounts/{new_id()}", json=account(seats_purchased=2**40))
    assert huge.json()["errors"][0]["pointer"] == "/seats_purchased"


async def test_an_integer_past_64_bits_is_refused_by_field_and_the_rest_kept(
    ingest: httpx.AsyncClient,
) -> None:
    account_id = await make_account(ingest)
    at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    bad = event(account_id, "login", at, properties={"n": 0})
    fine = event(account_id, "login", at)
    body = json.dumps({"events": [bad, fine]}).replace('"n": 0', f'"n": {2**64}')
    response = await ingest.post(
        "/v1/events", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    [refused] = response.json()["rejected"]
    assert (refused["id"], refused["field"]) == (bad["id"], "properties")
    assert "integers within 64 bits" in refused["reason"]


async def test_reason_filters_match_their_text_literally(ingest: httpx.AsyncClient) -> None:
    await ingest.post(
        "/v1/events", json={"events": [event(new_id(), "login", "2026-11-20T09:00:00Z")]}
    )
    for pattern in ("%", "_"):
        kept = await ingest.get("/v1/rejected", params={"reason_contains": pattern, "limit": 500})
        assert kept.status_code == 200
        assert all(pattern in r["reason"] for r in kept.json()["items"]), pattern
