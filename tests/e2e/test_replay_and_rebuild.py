"""Rejected events can be replayed once fixable; rollups can be recounted under a new map."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import Platform, make_key
from tests.e2e.test_accounts import account, new_id
from tests.e2e.test_events import event, make_account, rollups

MAP_KEYS = ("logins", "key_actions", "core_features", "integrations", "api_calls", "exports")


async def test_replay_one_event_after_its_account_exists(ingest: httpx.AsyncClient) -> None:
    account_id = new_id()
    early = event(account_id, "login", "2026-11-15T09:00:00Z")
    result = (await ingest.post("/v1/events", json={"events": [early]})).json()
    assert result["rejected"][0]["field"] == "account_id"
    kept = (await ingest.get("/v1/rejected", params={"reason_contains": account_id})).json()
    rejected_id = kept["items"][0]["id"]

    still_bad = await ingest.post(f"/v1/rejected/{rejected_id}/replay")
    assert still_bad.json()["outcome"] == "rejected"

    await ingest.put(f"/v1/accounts/{account_id}", json=account())
    replayed = await ingest.post(f"/v1/rejected/{rejected_id}/replay")
    assert replayed.status_code == 200
    assert replayed.json() == {"id": rejected_id, "outcome": "accepted", "reason": None}
    assert (await rollups(ingest, account_id, "2026-11-20"))["2026-11-15"]["logins"] == 1

    again = await ingest.post(f"/v1/rejected/{rejected_id}/replay")
    assert again.status_code == 409
    row = (await ingest.get("/v1/rejected", params={"reason_contains": account_id})).json()
    assert row["items"][0]["resolved_at"] is not None
    assert row["items"][0]["replays"] == 2
    assert (await ingest.post("/v1/rejected/999999999/replay")).status_code == 404


async def test_bulk_replay_of_segment_events_by_filter(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    source = (await ingest.post("/v1/sources", json={"kind": "segment", "name": "s"})).json()
    auth = {
        "Authorization": "Basic " + base64.b64encode(f"{source['write_key']}:".encode()).decode()
    }
    account_id = new_id("late")
    batch: list[dict[str, Any]] = [
        {
            "type": "track",
            "messageId": f"m-{uuid.uuid4().hex}",
            "userId": f"u{i}",
            "event": "login",
            "context": {"groupId": account_id},
            "timestamp": "2026-11-14T09:00:00Z",
        }
        for i in range(3)
    ]
    async with httpx.AsyncClient(base_url=platform.ingest.url, headers=auth) as client:
        sent = (await client.post("/v1/batch", json={"batch": batch})).json()
    assert len(sent["rejected"]) == 3

    await ingest.put(f"/v1/accounts/{account_id}", json=account())
    replay = {"reason_contains": account_id, "source": f"segment:{source['id']}"}
    result = (await ingest.post("/v1/rejected/replay", json=replay)).json()
    assert (result["accepted"], result["duplicates"], result["rejected"]) == (3, 0, 0)
    assert (await ingest.post("/v1/rejected/replay", json=replay)).json()["items"] == []
    days = await rollups(ingest, account_id, "2026-11-20")
    assert days["2026-11-14"]["active_users"] == 3


async def test_rebuild_applies_a_new_event_map_to_history(ingest: httpx.AsyncClient) -> None:
    account_id = await make_account(ingest)
    name = f"milestone_{uuid.uuid4().hex[:8]}"
    events = [event(account_id, name, "2026-11-12T09:00:00Z", user=f"u{i}") for i in range(4)]
    await ingest.post("/v1/events", json={"events": events})
    ticket = {
        "ticket_id": new_id("t"),
        "account_id": account_id,
        "status": "open",
        "severity": "low",
        "occurred_at": "2026-11-12T10:00:00Z",
    }
    await ingest.post("/v1/tickets", json=ticket)
    before = (await rollups(ingest, account_id, "2026-11-20"))["2026-11-12"]
    assert before["key_actions"] == 0

    current = (await ingest.get("/v1/config/event-map")).json()
    document = {k: current[k] for k in MAP_KEYS}
    document["key_actions"] = [*document["key_actions"], name]
    document["core_features"] = {**document["core_features"], name: "milestones"}
    await ingest.put("/v1/config/event-map", json=document)

    rebuilt = await ingest.post("/v1/rollups/rebuild", json={"account_ids": [account_id]})
    assert rebuilt.status_code == 200
    assert rebuilt.json()["events"] == 4
    after = (await rollups(ingest, account_id, "2026-11-20"))["2026-11-12"]
    assert after["key_actions"] == 4
    assert after["core_features"] == 1
    assert after["active_users"] == 4
    assert after["events"] == 4
    assert after["tickets_opened"] == 1  # support counters survive a recount

    again = (await ingest.post("/v1/rollups/rebuild", json={"account_ids": [account_id]})).json()
    assert again["events"] == 4
    assert (await rollups(ingest, account_id, "2026-11-20"))["2026-11-12"] == after


async def test_rebuild_pages_through_every_account(ingest: httpx.AsyncClient) -> None:
    pages, after = 0, None
    while True:
        body: dict[str, Any] = {"limit": 200, **({"after": after} if after else {})}
        result = (await ingest.post("/v1/rollups/rebuild", json=body)).json()
        pages += 1
        after = result["next_after"]
        if after is None:
            break
    assert pages >= 1
    both = await ingest.post("/v1/rollups/rebuild", json={"account_ids": ["a"], "after": "b"})
    assert both.status_code == 422


async def test_replay_reads_a_segment_message_as_its_request_did(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    source = (await ingest.post("/v1/sources", json={"kind": "segment", "name": "s"})).json()
    auth = {
        "Authorization": "Basic " + base64.b64encode(f"{source['write_key']}:".encode()).decode()
    }
    account_id, user = new_id("later"), new_id("user")
    now = datetime.now(UTC)
    # A /v1/group body carries no type: the endpoint says it is a group call.
    group = {"messageId": f"m-{uuid.uuid4().hex}", "userId": user, "groupId": account_id}
    # A client whose clock runs three days fast: sentAt corrects its timestamp to a minute ago.
    skewed = {
        "type": "track",
        "messageId": f"m-{uuid.uuid4().hex}",
        "userId": user,
        "event": "login",
        "timestamp": (now + timedelta(days=3, minutes=-1)).isoformat(),
        "context": {"groupId": account_id},
    }
    expected_day = (now - timedelta(minutes=1)).date().isoformat()
    async with httpx.AsyncClient(base_url=platform.ingest.url, headers=auth) as client:
        assert len((await client.post("/v1/group", json=group)).json()["rejected"]) == 1
        batch = {"batch": [skewed], "sentAt": (now + timedelta(days=3)).isoformat()}
        assert len((await client.post("/v1/batch", json=batch)).json()["rejected"]) == 1
    kept = (await ingest.get("/v1/rejected", params={"reason_contains": account_id})).json()
    endpoints = {r["event_id"]: r["segment_endpoint"] for r in kept["items"]}
    assert endpoints == {group["messageId"]: "group", skewed["messageId"]: "batch"}

    await ingest.put(f"/v1/accounts/{account_id}", json=account())
    replay = {"reason_contains": account_id, "source": f"segment:{source['id']}"}
    result = (await ingest.post("/v1/rejected/replay", json=replay)).json()
    assert (result["accepted"], result["rejected"]) == (2, 0), result
    # Replayed as a group call, it linked the user to the account.
    assert (await ingest.get(f"/v1/users/{user}")).json()["account_id"] == account_id
    days = await rollups(ingest, account_id, expected_day)
    assert days[expected_day]["logins"] == 1


async def test_bulk_replays_and_rebuilds_are_admin_only(platform: Platform) -> None:
    writer = await make_key(platform.database_url, "ingest:write", "ingest:read")
    async with platform.client("ingest", writer) as client:
        replay = await client.post("/v1/rejected/replay", json={"limit": 1})
        assert replay.status_code == 403
        assert replay.json()["type"] == "https://tenure.dev/problems/forbidden"
        rebuild = await client.post("/v1/rollups/rebuild", json={"limit": 1})
        assert rebuild.status_code == 403


@pytest.mark.parametrize("bad_id", ["", "x" * 201])
@pytest.mark.parametrize(
    ("path", "body"),
    [("/v1/rollups/rebuild", {}), ("/v1/signals/query", {"days": 7})],
)
async def test_account_id_lists_refuse_ids_no_account_can_have(
    ingest: httpx.AsyncClient, path: str, body: dict[str, object], bad_id: str
) -> None:
    response = await ingest.post(path, json={**body, "account_ids": ["acme", bad_id]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/account_ids/1"


async def test_a_rebuild_naming_unknown_accounts_recounts_nothing_and_fails_nothing(
    ingest: httpx.AsyncClient,
) -> None:
    # Scoring is told only of accounts that exist: an unknown id is no account to rescore.
    rebuilt = await ingest.post("/v1/rollups/rebuild", json={"account_ids": [new_id()]})
    assert rebuilt.status_code == 200, rebuilt.text
    assert rebuilt.json()["events"] == 0
