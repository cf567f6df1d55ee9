"""Segment HTTP Tracking API compatibility, including the real segment-analytics-python SDK."""

from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import segment.analytics as analytics_module
from segment.analytics import Client

from tests.conftest import Platform, make_key
from tests.e2e.test_accounts import new_id
from tests.e2e.test_events import make_account, rollups


async def segment_source(ingest: httpx.AsyncClient) -> str:
    created = await ingest.post("/v1/sources", json={"kind": "segment", "name": "web"})
    assert created.status_code == 201
    key: str = created.json()["write_key"]
    return key


def basic(write_key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()}


async def test_real_segment_sdk_delivers_to_tenure(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    account_id = await make_account(ingest)
    write_key = await segment_source(ingest)
    user = new_id("user")

    def send() -> None:
        client = Client(write_key, host=platform.ingest.url, sync_mode=True, max_retries=2)
        client.group(user, account_id, {"name": "Acme"})
        client.identify(user, {"email": "ada@example.com"})
        client.track(user, "login", {"plan": "growth"}, timestamp=None)
        client.track(user, "report_created", context={"groupId": account_id})
        client.flush()

    assert analytics_module  # the module is importable under its documented name
    await asyncio.to_thread(send)
    stored = (await ingest.get(f"/v1/users/{user}")).json()
    assert stored["account_id"] == account_id
    assert stored["traits"]["email"] == "ada@example.com"
    today = datetime.now(UTC).date().isoformat()
    days = await rollups(ingest, account_id, today)
    assert days[today]["logins"] == 1
    assert days[today]["key_actions"] == 1


async def test_batch_dedupes_by_message_id_and_corrects_clock_skew(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    account_id = await make_account(ingest)
    write_key = await segment_source(ingest)
    # The client's clock runs ten days fast: timestamp and sentAt are both shifted.
    fast = datetime.now(UTC) + timedelta(days=10)
    message: dict[str, Any] = {
        "type": "track",
        "messageId": f"m-{uuid.uuid4().hex}",
        "userId": "u1",
        "event": "login",
        "context": {"groupId": account_id},
        "timestamp": fast.isoformat(),
        "sentAt": (fast + timedelta(seconds=5)).isoformat(),
    }
    async with httpx.AsyncClient(base_url=platform.ingest.url, headers=basic(write_key)) as client:
        first = await client.post("/v1/batch", json={"batch": [message]})
        second = await client.post("/v1/batch", json={"batch": [message]})
    assert first.status_code == 200
    assert first.json()["success"] is True
    assert first.json()["accepted"] == 1
    assert second.json()["duplicates"] == 1
    # A window that holds both the corrected day and the client's: the login is counted once,
    # on the server's day, not ten days ahead.
    days = await rollups(ingest, account_id, fast.date().isoformat())
    assert sum(d["logins"] for d in days.values()) == 1
    assert fast.date().isoformat() not in days


async def test_write_key_is_required_and_checked(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    body = {"batch": [{"type": "track", "messageId": "x", "userId": "u", "event": "e"}]}
    async with httpx.AsyncClient(base_url=platform.ingest.url) as client:
        assert (await client.post("/v1/batch", json=body)).status_code == 401
        wrong = await client.post("/v1/batch", json=body, headers=basic("wk_nope"))
        assert wrong.status_code == 401
        assert wrong.headers["content-type"] == "application/problem+json"


async def test_write_key_in_body_and_disabled_source(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    created = (await ingest.post("/v1/sources", json={"kind": "segment", "name": "app"})).json()
    message = {
        "writeKey": created["write_key"],
        "messageId": f"m-{uuid.uuid4().hex}",
        "anonymousId": "anon-1",
        "event": "page_opened",
    }
    async with httpx.AsyncClient(base_url=platform.ingest.url) as client:
        assert (await client.post("/v1/track", json=message)).status_code == 200
        await ingest.post(f"/v1/sources/{created['id']}/disable")
        message["messageId"] = f"m-{uuid.uuid4().hex}"
        assert (await client.post("/v1/track", json=message)).status_code == 401


async def test_segment_size_limits(platform: Platform, ingest: httpx.AsyncClient) -> None:
    write_key = await segment_source(ingest)
    big = {"messageId": "big", "userId": "u", "event": "e", "properties": {"p": "x" * 40_000}}
    async with httpx.AsyncClient(base_url=platform.ingest.url, headers=basic(write_key)) as client:
        assert (await client.post("/v1/track", json=big)).status_code == 413
        in_batch = await client.post("/v1/batch", json={"batch": [{**big, "type": "track"}]})
        assert in_batch.status_code == 200
        assert in_batch.json()["rejected"][0]["reason"] == "message is larger than 32 KB"
        huge = {"batch": [{**big, "type": "track", "messageId": str(i)} for i in range(14)]}
        assert (await client.post("/v1/batch", json=huge)).status_code == 413


async def test_rotating_a_write_key_retires_the_old_one(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    created = (await ingest.post("/v1/sources", json={"kind": "segment", "name": "rot"})).json()
    rotated = (await ingest.post(f"/v1/sources/{created['id']}/rotate")).json()
    msg = {"messageId": f"m-{uuid.uuid4().hex}", "userId": "u", "event": "e"}
    async with httpx.AsyncClient(base_url=platform.ingest.url) as client:
        old = await client.post("/v1/track", json=msg, headers=basic(created["write_key"]))
        new = await client.post("/v1/track", json=msg, headers=basic(rotated["write_key"]))
    assert old.status_code == 401
    assert new.status_code == 200


async def test_alias_gives_an_anonymous_visitors_events_to_the_user_and_their_account(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    account_id = await make_account(ingest)
    write_key = await segment_source(ingest)
    visitor, user = new_id("anon"), new_id("user")

    def send(*calls: tuple[str, dict[str, Any]]) -> None:
        client = Client(write_key, host=platform.ingest.url, sync_mode=True, max_retries=2)
        for method, kwargs in calls:
            getattr(client, method)(**kwargs)
        client.flush()

    # Before signing up: anonymous, and nothing says which account they belong to.
    await asyncio.to_thread(send, ("track", {"anonymous_id": visitor, "event": "login"}))
    await asyncio.to_thread(
        send,
        ("alias", {"previous_id": visitor, "user_id": user}),
        ("group", {"user_id": user, "group_id": account_id}),
        # After the alias, the old id still sends as the user (and so lands on the account).
        ("track", {"anonymous_id": visitor, "event": "report_created"}),
    )
    today = datetime.now(UTC).date().isoformat()
    day = (await rollups(ingest, account_id, today))[today]
    assert (day["logins"], day["key_actions"], day["active_users"]) == (1, 1, 1)


async def test_a_write_key_sent_in_a_body_is_not_kept_with_a_rejected_message(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    write_key = await segment_source(ingest)
    ghost = new_id("ghost")

    def track() -> dict[str, Any]:
        return {
            "writeKey": write_key,
            "type": "track",
            "messageId": f"m-{uuid.uuid4().hex}",
            "userId": "u1",
            "event": "login",
            "context": {"groupId": ghost},
        }

    async with httpx.AsyncClient(base_url=platform.ingest.url) as client:
        single = await client.post("/v1/track", json=track())
        assert len(single.json()["rejected"]) == 1
        batch = await client.post("/v1/batch", json={"writeKey": write_key, "batch": [track()]})
        assert len(batch.json()["rejected"]) == 1
    reader = await make_key(platform.database_url, "ingest:read")
    async with platform.client("ingest", reader) as client:
        listed = await client.get("/v1/rejected", params={"reason_contains": ghost})
    assert listed.status_code == 200
    assert len(listed.json()["items"]) == 2
    assert write_key not in listed.text
    assert all("writeKey" not in row["raw"] for row in listed.json()["items"])
