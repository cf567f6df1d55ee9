"""The event log: GET /v1/events, an account's or user's raw events, newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import Platform, make_key
from tests.e2e.test_accounts import new_id
from tests.e2e.test_events import event, make_account
from tests.e2e.test_segment import basic


async def everything(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    """Every page of a listing, two items a page."""
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {**params, "limit": 2}
    while True:
        response = await client.get("/v1/events", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        if page["next_cursor"] is None:
            return items
        query["cursor"] = page["next_cursor"]


async def test_event_log_filters_orders_and_pages(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    account_id = await make_account(ingest)
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    at = [(base + timedelta(hours=h)).isoformat() for h in range(4)]
    ann, bob = new_id("ann"), new_id("bob")
    events = [
        event(account_id, "login", at[0], user=ann),
        event(account_id, "report_created", at[1], user=ann),
        event(account_id, "login", at[2], user=bob),
        # Three at the same instant: paging by (time, id) loses none of them.
        *(event(account_id, "export", at[3], user=bob) for _ in range(3)),
    ]
    assert (await ingest.post("/v1/events", json={"events": events})).json()["accepted"] == 6

    reader = await make_key(platform.database_url, "ingest:read")
    async with platform.client("ingest", reader) as client:
        listed = await everything(client, account_id=account_id)
        assert len(listed) == 6
        assert len({e["id"] for e in listed}) == 6
        stamps = [(e["timestamp"], e["id"]) for e in listed]
        assert stamps == sorted(stamps, reverse=True)  # newest first
        assert {e["id"] for e in listed[:3]} == {e["id"] for e in events[3:]}
        first = next(e for e in listed if e["id"] == events[0]["id"])
        assert first["source_id"] is None
        assert first["correction_seconds"] == 0
        assert datetime.fromisoformat(first["sent_timestamp"]) == base

        by_user = await everything(client, user_id=ann)
        assert [e["id"] for e in by_user] == [events[1]["id"], events[0]["id"]]
        logins = await everything(client, account_id=account_id, name="login")
        assert [e["id"] for e in logins] == [events[2]["id"], events[0]["id"]]
        window = await everything(client, account_id=account_id, **{"from": at[1], "to": at[3]})
        assert [e["id"] for e in window] == [events[2]["id"], events[1]["id"]]
        both = await everything(client, account_id=account_id, user_id=bob, name="export")
        assert len(both) == 3

        nobody = await client.get("/v1/events")
        assert nobody.status_code == 422
        assert {e["parameter"] for e in nobody.json()["errors"]} == {"account_id", "user_id"}
        naive = await client.get(
            "/v1/events", params={"account_id": account_id, "from": "2026-11-01T00:00:00"}
        )
        assert naive.status_code == 422
        assert naive.json()["errors"][0]["parameter"] == "from"


async def test_event_log_shows_the_source_and_the_clock_correction(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    account_id = await make_account(ingest)
    created = await ingest.post("/v1/sources", json={"kind": "segment", "name": "web"})
    source_id, write_key = created.json()["id"], created.json()["write_key"]
    now = datetime.now(UTC)
    sent = now + timedelta(days=3)  # the client's clock runs three days fast
    message: dict[str, Any] = {
        "type": "track",
        "messageId": new_id("m"),
        "userId": new_id("user"),
        "event": "login",
        "context": {"groupId": account_id},
        "timestamp": (sent - timedelta(minutes=5)).isoformat(),
    }
    async with httpx.AsyncClient(base_url=platform.ingest.url, headers=basic(write_key)) as c:
        batch = {"batch": [message], "sentAt": sent.isoformat()}
        assert (await c.post("/v1/batch", json=batch)).json()["accepted"] == 1
    (stored,) = await everything(ingest, user_id=message["userId"])
    assert stored["id"] == message["messageId"]
    assert stored["source_id"] == source_id
    assert datetime.fromisoformat(stored["sent_timestamp"]) == datetime.fromisoformat(
        message["timestamp"]
    )
    # Stored about five minutes before arrival: three days taken off the client's time.
    assert abs(stored["correction_seconds"] + 3 * 86400) < 60
    corrected = datetime.fromisoformat(stored["timestamp"])
    assert corrected < datetime.fromisoformat(stored["received_at"])
