"""GET /v1/sources says what each source sent lately: its newest event's arrival, its
events over a day and a week, and its refusals over a day."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import Platform
from tests.e2e.test_accounts import new_id
from tests.e2e.test_events import make_account
from tests.e2e.test_segment import basic


async def listed(ingest: httpx.AsyncClient, source_id: str) -> dict[str, Any]:
    """One source as the list shows it, following the pages until it is found."""
    params: dict[str, Any] = {"limit": 500}
    while True:
        page = (await ingest.get("/v1/sources", params=params)).json()
        for item in page["items"]:
            if item["id"] == source_id:
                return dict(item)
        assert page["next_cursor"], f"source {source_id} is not listed"
        params["cursor"] = page["next_cursor"]


def track(account_id: str, at: datetime) -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": f"m-{uuid.uuid4().hex}",
        "userId": "u1",
        "event": "login",
        "context": {"groupId": account_id},
        "timestamp": at.isoformat(),
    }


async def test_a_source_lists_its_last_event_and_counts(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    created = (await ingest.post("/v1/sources", json={"kind": "segment", "name": "act"})).json()
    fresh = await listed(ingest, created["id"])
    assert (fresh["last_event_at"], fresh["events_24h"], fresh["events_7d"]) == (None, 0, 0)
    assert fresh["rejected_24h"] == 0
    assert "write_key" not in fresh

    account_id = await make_account(ingest)
    now = datetime.now(UTC)
    before = now - timedelta(seconds=5)
    # Two events for a known account, one for an account that does not exist (refused).
    batch = [track(account_id, now - timedelta(days=3)), track(account_id, now)]
    batch.append(track(new_id("nobody"), now))
    async with httpx.AsyncClient(
        base_url=platform.ingest.url, headers=basic(created["write_key"])
    ) as client:
        sent = (await client.post("/v1/batch", json={"batch": batch})).json()
    assert (sent["accepted"], len(sent["rejected"])) == (2, 1), sent

    item = await listed(ingest, created["id"])
    # Counted by arrival: an event the client dated three days ago arrived just now.
    assert (item["events_24h"], item["events_7d"], item["rejected_24h"]) == (2, 2, 1)
    assert datetime.fromisoformat(item["last_event_at"]) >= before
    other = (await ingest.post("/v1/sources", json={"kind": "stripe", "name": "quiet"})).json()
    quiet = await listed(ingest, other["id"])
    assert (quiet["last_event_at"], quiet["events_7d"], quiet["rejected_24h"]) == (None, 0, 0)
