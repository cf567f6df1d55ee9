"""Values Python reads but PostgreSQL (or the JSON encoder) cannot keep: each refuses only the
event it is in, with its reason; the rest of the batch is kept, and nothing is a 500."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from tests.conftest import Platform
from tests.e2e.test_accounts import account, new_id
from tests.e2e.test_events import event, make_account
from tests.e2e.test_segment import basic, segment_source
from tests.e2e.test_webhooks import source

YEAR_ZERO = "0001-01-01T00:00:00+01:00"  # year 0 in UTC
YEAR_10000 = "9999-12-31T23:59:59-01:00"  # year 10000 in UTC


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


def as_json(doc: Any) -> bytes:
    """JSON as a JS client writes it: lone surrogates as \\udXXX escapes (orjson cannot)."""
    return json.dumps(doc).encode()


def message(account_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": f"m-{uuid.uuid4().hex}",
        "userId": "u1",
        "event": "login",
        "context": {"groupId": account_id},
        "timestamp": datetime.now(UTC).isoformat(),
        **fields,
    }


async def test_segment_batch_refuses_only_the_messages_that_cannot_be_stored(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    account_id = await make_account(ingest)
    write_key = await segment_source(ingest)
    now = datetime.now(UTC)
    batch = [
        message(account_id),
        message(account_id, timestamp=YEAR_ZERO),
        message(account_id, timestamp=None, originalTimestamp=YEAR_ZERO),
        message(account_id, sentAt=YEAR_10000),
        message(account_id, timestamp="0001-01-02T00:00:00Z", sentAt="9999-12-30T00:00:00Z"),
        message(account_id, userId="u\ud800"),
        message(account_id, event="login\udfff"),
        message(account_id, properties={"title": "half an emoji \ud83d"}),
        message(account_id, type="identify", traits={"name": "\udc00"}),
        message(account_id, properties=nested(300)),
        # receivedAt is the server's to set: a client's value, whatever it is, is ignored.
        message(account_id, receivedAt=YEAR_ZERO),
        message(account_id, type="page", name="a long title " * 40),
        message(account_id, type="screen", name="s" * 201),
    ]
    async with httpx.AsyncClient(base_url=platform.ingest.url, headers=basic(write_key)) as c:
        response = await c.post(
            "/v1/batch",
            content=as_json({"batch": batch, "sentAt": now.isoformat()}),
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 200
    result = response.json()
    assert [(r["index"], r["field"]) for r in result["rejected"]] == [
        (1, "timestamp"),
        (2, "originalTimestamp"),
        (3, "sentAt"),
        (4, "sentAt"),
        (5, "userId"),
        (6, "event"),
        (7, "properties"),
        (8, "traits"),
        (9, "properties"),
    ]
    assert result["accepted"] == 4
    assert "surrogate" in result["rejected"][4]["reason"]
    assert "nested" in result["rejected"][8]["reason"]

    # Each refused message is kept, readable, with what cannot be stored replaced.
    listed = await _rejected_by_event_ids(ingest, {r["id"] for r in result["rejected"]})
    assert len(listed) == 9
    assert listed[batch[5]["messageId"]]["raw"]["userId"] == "u\ufffd"
    assert listed[batch[7]["messageId"]]["raw"]["properties"]["title"].endswith("\ufffd")
    assert listed[batch[1]["messageId"]]["reason"].startswith("is outside the range")


async def _rejected_by_event_ids(
    ingest: httpx.AsyncClient, ids: set[str]
) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    params: dict[str, Any] = {"resolved": "false", "limit": 500}
    while True:
        page = await ingest.get("/v1/rejected", params=params)
        assert page.status_code == 200
        body = page.json()
        found.update({r["event_id"]: r for r in body["items"] if r["event_id"] in ids})
        if body["next_cursor"] is None:
            return found
        params["cursor"] = body["next_cursor"]


async def test_native_batch_refuses_only_the_events_that_cannot_be_stored(
    ingest: httpx.AsyncClient,
) -> None:
    account_id = await make_account(ingest)
    ts = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    events = [
        event(account_id, "login", ts),
        event(account_id, "login", YEAR_ZERO),
        event(account_id, "login", YEAR_10000),
        event(account_id, "login", ts, id=f"e-{uuid.uuid4().hex}\ud800"),
        event(account_id, "login\udfff", ts),
        event(account_id, "login", ts, user="u\ud83d"),
        event(account_id, "login", ts, properties={"x": ["\udc00"]}),
        event(account_id, "login", ts, properties=nested(300)),
    ]
    response = await ingest.post(
        "/v1/events",
        content=as_json({"events": events}),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200
    result = response.json()
    rejected = {r["index"]: r["field"] for r in result["rejected"]}
    assert rejected == {
        1: "timestamp",
        2: "timestamp",
        3: "id",
        4: "name",
        5: "user_id",
        6: "properties",
        7: "properties",
    }
    assert result["accepted"] == 1


async def test_webhook_and_support_times_out_of_range_are_422_by_field(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    account_id = await make_account(ingest)
    src = await source(ingest, "standard_webhooks")
    body = {"type": "payment.failed", "data": {"account_id": account_id, "occurred_at": YEAR_ZERO}}
    payload = json.dumps(body)
    msg_id = f"msg_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(src["signing_secret"]).sign(msg_id, now, payload),
        "Content-Type": "application/json",
    }
    async with httpx.AsyncClient(base_url=platform.ingest.url) as client:
        response = await client.post(f"/v1/webhooks/{src['id']}", content=payload, headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/data/occurred_at"

    ticket = {
        "ticket_id": new_id("t"),
        "account_id": account_id,
        "status": "open",
        "severity": "low",
    }
    for stamp in (YEAR_ZERO, YEAR_10000, "2026-11-20T10:00:00"):  # the last is naive
        refused = await ingest.post("/v1/tickets", json={**ticket, "occurred_at": stamp})
        assert refused.status_code == 422, stamp
        assert refused.json()["errors"][0]["pointer"] == "/occurred_at"
    survey = {"id": new_id("s"), "account_id": account_id, "kind": "nps", "score": 9}
    refused = await ingest.post("/v1/surveys", json={**survey, "responded_at": YEAR_10000})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["pointer"] == "/responded_at"


async def test_naive_or_out_of_range_times_in_query_parameters_are_422_naming_them(
    ingest: httpx.AsyncClient,
) -> None:
    for path in ("/v1/accounts", "/v1/users"):
        for stamp in ("2026-11-20T10:00:00", YEAR_ZERO, YEAR_10000):
            response = await ingest.get(path, params={"updated_since": stamp})
            assert response.status_code == 422, (path, stamp)
            assert response.json()["errors"][0]["parameter"] == "updated_since"
        fine = await ingest.get(path, params={"updated_since": "2026-11-20T10:00:00+02:00"})
        assert fine.status_code == 200


async def test_the_drivers_infinity_times_are_refused_so_nothing_stored_reads_back_naive(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    # asyncpg stores the first and last representable instants as -infinity and infinity and
    # reads them back naive: a rejected message kept with such a sentAt broke every replay.
    account_id = await make_account(ingest)
    write_key = await segment_source(ingest)
    async with httpx.AsyncClient(base_url=platform.ingest.url, headers=basic(write_key)) as c:
        whole = await c.post(
            "/v1/batch", json={"batch": [message(account_id)], "sentAt": "0001-01-01T00:00:00Z"}
        )
        assert whole.status_code == 422
        assert whole.json()["errors"][0]["pointer"] == "/sentAt"
        one = await c.post(
            "/v1/batch",
            json={
                "batch": [message(account_id, sentAt="0001-01-01T00:00:00Z"), message(account_id)]
            },
        )
    assert one.status_code == 200
    assert one.json()["accepted"] == 1
    assert [r["field"] for r in one.json()["rejected"]] == ["sentAt"]
    replay = await ingest.post("/v1/rejected/replay", json={})
    assert replay.status_code == 200, replay.text


async def test_an_integer_of_thousands_of_digits_is_a_422_naming_its_field(
    platform: Platform,
) -> None:
    huge = "1" + "0" * 5000  # valid JSON that Python's own parser refuses to read
    headers = {"Content-Type": "application/json"}
    async with platform.client("ingest") as ingest, platform.client("scoring") as scoring:
        body = json.dumps(account()).replace('"mrr_minor": 250000', f'"mrr_minor": {huge}')
        response = await ingest.put(f"/v1/accounts/{new_id()}", content=body, headers=headers)
        assert response.status_code == 422, response.text
        assert [e["pointer"] for e in response.json()["errors"]] == ["/mrr_minor"]

        card = (await scoring.get("/v1/scorecards/smb")).json()
        weights = {**card["weights"], "nps": 0}
        body = json.dumps({"weights": weights, "thresholds": card["thresholds"]})
        body = body.replace('"nps": 0', f'"nps": {huge}', 1)
        response = await scoring.post("/v1/scorecards/smb/preview", content=body, headers=headers)
        assert response.status_code == 422, response.text
        assert "/weights/nps" in {e["pointer"] for e in response.json()["errors"]}
