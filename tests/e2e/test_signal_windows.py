"""``POST /v1/signals/windows`` on the running ingest: events in through the public API,
window aggregates out, as scoring reads them; bad input is a 4xx problem naming the field."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx

from tests.conftest import Platform, make_key
from tests.e2e.test_accounts import account, new_id
from tests.e2e.test_events import event

AS_OF = datetime.now(UTC).date() - timedelta(days=1)  # a whole day, in the past


def at(days_before: int, hour: int) -> str:
    day = AS_OF - timedelta(days=days_before)
    return datetime.combine(day, time(hour), tzinfo=UTC).isoformat()


async def windows(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await client.post("/v1/signals/windows", json=body)


async def test_events_posted_are_read_back_as_window_aggregates(
    ingest: httpx.AsyncClient, platform: Platform
) -> None:
    account_id = new_id()
    body = account(champion_user_id="ann")
    assert (await ingest.put(f"/v1/accounts/{account_id}", json=body)).status_code == 201
    events = [
        event(account_id, "login", at(0, 9), user="ann"),
        event(account_id, "report_created", at(0, 10), user="bob"),
        event(account_id, "report_created", at(6, 10), user="ann"),  # in the 7 days
        event(account_id, "integration_connected", at(7, 10), user="cat"),  # out of them
        event(account_id, "login", at(30, 10), user="ann"),  # out of the 30 days
        event(account_id, "login", at(-1, 0), user="dan"),  # the day after as_of
    ]
    sent = await ingest.post("/v1/events", json={"events": events})
    assert sent.json()["accepted"] == len(events)

    # Read as scoring does: its own key holds ingest:read and nothing more of ingest.
    reader = await make_key(platform.database_url, "ingest:read")
    async with platform.client("ingest", key=reader) as client:
        response = await windows(client, {"account_ids": [account_id], "as_of": AS_OF.isoformat()})
    assert response.status_code == 200
    page = response.json()
    assert page["next_after"] is None
    [got] = page["accounts"]
    zero = dict.fromkeys(
        [
            "events", "logins", "key_actions", "integrations", "api_calls", "exports",
            "tickets_opened", "tickets_closed", "payment_failures", "invoices_paid",
        ],
        0,
    )  # fmt: skip

    def day(days_before: int) -> str:
        return (AS_OF - timedelta(days=days_before)).isoformat()

    assert got == {
        "account_id": account_id,
        "as_of": AS_OF.isoformat(),
        "account": {
            "external_id": account_id,
            **{k: body[k] for k in ("name", "motion_segment", "plan", "billing_period")},
            **{k: body[k] for k in ("mrr_minor", "currency", "seats_purchased", "status")},
            "contract_start": body["contract_start"],
            "renewal_date": body["renewal_date"],
            "champion_user_id": "ann",
            "cancel_intent": False,
        },
        "sum_7": {**zero, "events": 3, "logins": 1, "key_actions": 2},
        "sum_30": {**zero, "events": 4, "logins": 1, "key_actions": 2, "integrations": 1},
        "sum_60": {**zero, "events": 5, "logins": 2, "key_actions": 2, "integrations": 1},
        "integrations_total": 1,
        "active_users_7": 2,
        "active_users_30": 3,
        "core_features_7": 1,
        "core_features_30": 1,
        "seen": {
            "events": {"first": day(30), "last": day(0)},
            "logins": {"first": day(30), "last": day(0)},
            "key_actions": {"first": day(6), "last": day(0)},
            "integrations": {"first": day(7), "last": day(7)},
        },
        "key_action_days": (1 << 0) | (1 << 6),
        "weekly_active_users": [2, 1, 0, 0, 1, 0, 0, 0],
        "champion_last_active": day(0),
        "paid_months": 0,
        "open_tickets": {"low": 0, "medium": 0, "high": 0, "urgent": 0},
        "nps": None,
        "csat": None,
    }

    # Walking all accounts finds it, on a page starting just before it.
    before = account_id[:-1]
    walked = await windows(ingest, {"after": before, "limit": 1, "as_of": AS_OF.isoformat()})
    assert walked.status_code == 200
    assert [a["account_id"] for a in walked.json()["accounts"]] == [account_id]
    assert walked.json()["next_after"] == account_id


def pointers(response: httpx.Response) -> list[str]:
    assert response.headers["content-type"] == "application/problem+json"
    return [e["pointer"] for e in response.json()["errors"]]


async def test_bad_requests_are_4xx_problems_naming_the_field(
    ingest: httpx.AsyncClient, platform: Platform
) -> None:
    both = await windows(ingest, {"account_ids": ["a"], "after": "a"})
    assert both.status_code == 422
    assert pointers(both) == ["/after"]

    too_many = await windows(ingest, {"account_ids": [f"a{i}" for i in range(1001)]})
    assert too_many.status_code == 422
    assert pointers(too_many) == ["/account_ids"]
    assert (await windows(ingest, {"account_ids": [f"a{i}" for i in range(1000)]})).is_success

    for bad in ("2026-02-30", "yesterday", "2026-12-01T10:30:00Z", 20261201, "1970-01-01"):
        response = await windows(ingest, {"account_ids": ["a"], "as_of": bad})
        assert response.status_code == 422, bad
        assert pointers(response) == ["/as_of"], bad

    refused: list[tuple[dict[str, Any], str]] = [
        ({"limit": 0}, "/limit"),
        ({"limit": 1001}, "/limit"),
        ({"account_ids": []}, "/account_ids"),
        ({"account_ids": [""]}, "/account_ids/0"),
        ({"after": ""}, "/after"),
        ({"account": "a"}, "/account"),
    ]
    for body, pointer in refused:
        response = await windows(ingest, body)
        assert response.status_code == 422, body
        assert pointers(response) == [pointer], body

    async with httpx.AsyncClient(base_url=platform.ingest.url) as anonymous:
        unkeyed = await windows(anonymous, {"account_ids": ["a"]})
    assert unkeyed.status_code == 401
    assert unkeyed.headers["content-type"] == "application/problem+json"
    writer = await make_key(platform.database_url, "ingest:write")
    async with platform.client("ingest", key=writer) as client:
        assert (await windows(client, {"account_ids": ["a"]})).status_code == 403


async def test_as_of_defaults_to_today(ingest: httpx.AsyncClient) -> None:
    today = datetime.now(UTC).date()
    response = await windows(ingest, {"account_ids": [new_id()]})
    assert response.status_code == 200
    [got] = response.json()["accounts"]
    assert got["account"] is None
    assert date.fromisoformat(got["as_of"]) in {today, datetime.now(UTC).date()}
