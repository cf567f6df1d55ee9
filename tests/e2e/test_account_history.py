"""Account history and renewal outcomes over HTTP: CRM backfills, billing changes, refusals.

Every date derives from today.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import Platform
from tests.e2e.test_accounts import account, new_id
from tests.e2e.test_webhooks import post_standard, source

PROBLEM = "https://tenure.dev/problems/"


def days_ago(days: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def past_renewal() -> date:
    return datetime.now(UTC).date() - timedelta(days=30)


async def backfilled_account(ingest: httpx.AsyncClient, **facts: Any) -> str:
    """An account the CRM loads as it was 40 days ago, renewing 30 days ago."""
    account_id = new_id("hist")
    body = account(
        mrr_minor=100_000,
        renewal_date=past_renewal().isoformat(),
        effective_at=days_ago(40).isoformat(),
        **facts,
    )
    created = await ingest.put(f"/v1/accounts/{account_id}", json=body)
    assert created.status_code == 201, created.text
    return account_id


async def test_a_crm_backfill_and_an_mrr_change_after_the_renewal_read_as_expanded(
    ingest: httpx.AsyncClient,
) -> None:
    account_id = await backfilled_account(ingest)
    changed_at = days_ago(27)  # after the renewal, within its grace
    body = account(
        mrr_minor=150_000,
        renewal_date=past_renewal().isoformat(),
        effective_at=changed_at.isoformat(),
    )
    assert (await ingest.put(f"/v1/accounts/{account_id}", json=body)).status_code == 200
    # The same facts again, now: nothing changed, nothing recorded.
    same = account(mrr_minor=150_000, renewal_date=past_renewal().isoformat())
    assert (await ingest.put(f"/v1/accounts/{account_id}", json=same)).status_code == 200

    history = (await ingest.get(f"/v1/accounts/{account_id}/history")).json()
    assert [e["source"] for e in history["items"]] == ["crm", "crm"]
    first, second = history["items"]
    assert datetime.fromisoformat(first["effective_at"]) < datetime.fromisoformat(
        second["effective_at"]
    )
    assert first["changes"]["mrr_minor"] == {"old": None, "new": 100_000}
    assert second["changes"] == {"mrr_minor": {"old": 100_000, "new": 150_000}}
    assert second["facts"]["mrr_minor"] == 150_000
    assert datetime.fromisoformat(second["effective_at"]) == changed_at
    (outcome,) = history["outcomes"]
    assert outcome["outcome"] == "expanded"
    assert (outcome["mrr_before_minor"], outcome["mrr_after_minor"]) == (100_000, 150_000)
    assert outcome["renewal_date"] == past_renewal().isoformat()
    assert outcome["currency"] == "EUR"
    assert datetime.fromisoformat(outcome["decided_at"]) == changed_at
    assert outcome["final"] is True

    # A page at a time, oldest first.
    page = (await ingest.get(f"/v1/accounts/{account_id}/history", params={"limit": 1})).json()
    assert [e["id"] for e in page["items"]] == [first["id"]]
    rest = await ingest.get(
        f"/v1/accounts/{account_id}/history", params={"limit": 1, "cursor": page["next_cursor"]}
    )
    assert [e["id"] for e in rest.json()["items"]] == [second["id"]]
    assert rest.json()["next_cursor"] is None

    by_id = await ingest.post("/v1/outcomes/query", json={"account_ids": [account_id]})
    assert by_id.status_code == 200, by_id.text
    assert by_id.json()["items"] == [outcome]
    renewal = past_renewal().isoformat()
    in_range = await ingest.post(
        "/v1/outcomes/query",
        json={"account_ids": [account_id], "renewal_from": renewal, "renewal_to": renewal},
    )
    assert in_range.json()["items"] == [outcome]
    outside = await ingest.post(
        "/v1/outcomes/query", json={"account_ids": [account_id], "renewal_to": "2000-01-01"}
    )
    assert outside.json()["items"] == []


async def test_a_billing_cancellation_in_the_grace_reads_as_churned(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    account_id = await backfilled_account(ingest)
    src = await source(ingest, "standard_webhooks")
    cancelled_at = days_ago(28)
    msg_id = f"msg_{uuid.uuid4().hex}"
    cancel = {
        "type": "subscription.updated",
        "data": {
            "account_id": account_id,
            "status": "cancelled",
            "occurred_at": cancelled_at.isoformat(),
        },
    }
    answer = await post_standard(platform, src["id"], src["signing_secret"], cancel, msg_id)
    assert answer.json()["applied"] is True
    again = await post_standard(platform, src["id"], src["signing_secret"], cancel, msg_id)
    assert again.json()["duplicate"] is True

    history = (await ingest.get(f"/v1/accounts/{account_id}/history")).json()
    assert [e["source"] for e in history["items"]] == ["crm", "standard_webhooks"]
    billing = history["items"][1]
    assert billing["event_id"] == msg_id
    assert datetime.fromisoformat(billing["effective_at"]) == cancelled_at
    assert billing["changes"] == {"status": {"old": "active", "new": "cancelled"}}
    (outcome,) = history["outcomes"]
    assert outcome["outcome"] == "churned"
    assert (outcome["mrr_before_minor"], outcome["mrr_after_minor"]) == (100_000, 0)
    assert datetime.fromisoformat(outcome["decided_at"]) == cancelled_at

    renewal = past_renewal().isoformat()
    seen: list[dict[str, Any]] = []
    body: dict[str, Any] = {"renewal_from": renewal, "renewal_to": renewal, "limit": 1}
    while True:  # every account renewing that day, a page at a time
        page = (await ingest.post("/v1/outcomes/query", json=body)).json()
        assert len(page["items"]) <= 1
        seen += page["items"]
        if page["next_cursor"] is None:
            break
        body["after"] = page["next_cursor"]
    assert outcome in seen
    assert [(o["account_id"], o["renewal_date"]) for o in seen] == sorted(
        (o["account_id"], o["renewal_date"]) for o in seen
    )


async def test_an_effective_time_in_the_future_or_before_1970_is_refused_naming_it(
    ingest: httpx.AsyncClient,
) -> None:
    account_id = new_id("hist")
    for when in (datetime.now(UTC) + timedelta(hours=1), datetime(1969, 12, 31, tzinfo=UTC)):
        refused = await ingest.put(
            f"/v1/accounts/{account_id}", json=account(effective_at=when.isoformat())
        )
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/problem+json"
        assert [e["pointer"] for e in refused.json()["errors"]] == ["/effective_at"]
    batch = {"accounts": [{"external_id": account_id, **account(effective_at="2999-01-01Z")}]}
    refused = await ingest.post("/v1/accounts/batch", json=batch)
    assert refused.status_code == 422
    assert [e["pointer"] for e in refused.json()["errors"]] == ["/accounts/0/effective_at"]
    assert (await ingest.get(f"/v1/accounts/{account_id}")).status_code == 404


async def test_a_batch_backfill_loads_several_versions_of_an_account_in_effective_order(
    ingest: httpx.AsyncClient,
) -> None:
    account_id = new_id("hist")
    renewal = past_renewal().isoformat()
    versions = [  # sent newest first: stored by effective time
        account(mrr_minor=90_000, renewal_date=renewal, effective_at=days_ago(26).isoformat()),
        account(mrr_minor=100_000, renewal_date=renewal, effective_at=days_ago(40).isoformat()),
    ]
    batch = {"accounts": [{"external_id": account_id, **v} for v in versions]}
    answer = await ingest.post("/v1/accounts/batch", json=batch)
    assert answer.json() == {"created": 1, "updated": 0}
    assert (await ingest.get(f"/v1/accounts/{account_id}")).json()["mrr_minor"] == 90_000
    history = (await ingest.get(f"/v1/accounts/{account_id}/history")).json()
    assert [e["facts"]["mrr_minor"] for e in history["items"]] == [100_000, 90_000]
    assert [o["outcome"] for o in history["outcomes"]] == ["contracted"]
    # A version older than the newest recorded facts is recorded, not taken by the account.
    late = account(mrr_minor=95_000, renewal_date=renewal, effective_at=days_ago(35).isoformat())
    assert (await ingest.put(f"/v1/accounts/{account_id}", json=late)).status_code == 200
    assert (await ingest.get(f"/v1/accounts/{account_id}")).json()["mrr_minor"] == 90_000
    history = (await ingest.get(f"/v1/accounts/{account_id}/history")).json()
    assert [e["facts"]["mrr_minor"] for e in history["items"]] == [100_000, 95_000, 90_000]
    assert history["items"][1]["changes"] == {"mrr_minor": {"old": 100_000, "new": 95_000}}
    assert history["outcomes"][0]["mrr_before_minor"] == 95_000


async def test_outcome_queries_refuse_what_they_cannot_answer_naming_the_field(
    ingest: httpx.AsyncClient,
) -> None:
    missing = await ingest.post("/v1/outcomes/query", json={})
    assert missing.status_code == 422
    assert missing.headers["content-type"] == "application/problem+json"
    assert {"/account_ids", "/renewal_from", "/renewal_to"} <= {
        e["pointer"] for e in missing.json()["errors"]
    }
    today = datetime.now(UTC).date()
    reversed_range = await ingest.post(
        "/v1/outcomes/query",
        json={"renewal_from": today.isoformat(), "renewal_to": (today - timedelta(1)).isoformat()},
    )
    assert reversed_range.status_code == 422
    assert [e["pointer"] for e in reversed_range.json()["errors"]] == ["/renewal_to"]
    too_many = await ingest.post(
        "/v1/outcomes/query", json={"account_ids": [f"a{i}" for i in range(1001)]}
    )
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["pointer"] == "/account_ids"

    account_id = await backfilled_account(ingest)
    await backfilled_account(ingest)  # two outcomes at least: a page of one has a next
    first = await ingest.post(
        "/v1/outcomes/query", json={"renewal_to": today.isoformat(), "limit": 1}
    )
    cursor = first.json()["next_cursor"]
    assert cursor
    for bad in ("garbage", cursor[:-2] + "xx"):
        refused = await ingest.post(
            "/v1/outcomes/query", json={"renewal_to": today.isoformat(), "after": bad}
        )
        assert refused.status_code == 400
        assert refused.json()["errors"][0]["pointer"] == "/after"
    # A cursor of one query is no cursor of another.
    other = await ingest.post(
        "/v1/outcomes/query", json={"account_ids": [account_id], "after": cursor}
    )
    assert other.status_code == 400
    assert other.json()["errors"][0]["pointer"] == "/after"

    forged = await ingest.get(f"/v1/accounts/{account_id}/history", params={"cursor": "x.y"})
    assert forged.status_code == 400
    assert forged.json()["errors"][0]["parameter"] == "cursor"
    unknown = await ingest.get(f"/v1/accounts/{new_id()}/history")
    assert unknown.status_code == 404
    assert unknown.json()["type"] == PROBLEM + "not-found"


async def test_outcomes_of_one_account_page_one_renewal_at_a_time(
    ingest: httpx.AsyncClient,
) -> None:
    account_id = new_id("hist")
    today = datetime.now(UTC).date()
    first, second = today - timedelta(days=70), today - timedelta(days=30)
    for effective, renewal in ((days_ago(80), first), (days_ago(60), second)):
        body = account(renewal_date=renewal.isoformat(), effective_at=effective.isoformat())
        assert (await ingest.put(f"/v1/accounts/{account_id}", json=body)).status_code < 300
    query: dict[str, Any] = {"account_ids": [account_id], "limit": 1}
    page = (await ingest.post("/v1/outcomes/query", json=query)).json()
    assert [(o["renewal_date"], o["outcome"]) for o in page["items"]] == [
        (first.isoformat(), "renewed")
    ]
    query["after"] = page["next_cursor"]
    page = (await ingest.post("/v1/outcomes/query", json=query)).json()
    assert [o["renewal_date"] for o in page["items"]] == [second.isoformat()]
    assert page["next_cursor"] is None


async def test_mrr_in_force_at_instants_for_many_accounts(ingest: httpx.AsyncClient) -> None:
    grown = await backfilled_account(ingest)  # 100,000 EUR from 40 days ago
    changed_at = days_ago(20)
    body = account(
        mrr_minor=130_000,
        renewal_date=past_renewal().isoformat(),
        effective_at=changed_at.isoformat(),
    )
    assert (await ingest.put(f"/v1/accounts/{grown}", json=body)).status_code == 200
    cancelled = await backfilled_account(ingest, currency="USD")
    body = account(
        mrr_minor=100_000,
        currency="USD",
        status="cancelled",
        renewal_date=past_renewal().isoformat(),
        effective_at=days_ago(10).isoformat(),
    )
    assert (await ingest.put(f"/v1/accounts/{cancelled}", json=body)).status_code == 200
    unknown = new_id("nobody")
    instants = [days_ago(50), days_ago(30), changed_at, datetime.now(UTC)]

    response = await ingest.post(
        "/v1/accounts/mrr",
        json={
            "account_ids": [grown, cancelled, unknown, grown],
            "at": [t.isoformat() for t in instants],
        },
    )
    assert response.status_code == 200, response.text
    answer = {a["account_id"]: a["values"] for a in response.json()["accounts"]}
    assert list(answer) == [grown, cancelled, unknown]  # the order asked, duplicates once

    def facts(values: list[dict[str, Any] | None]) -> list[tuple[int, str, str] | None]:
        return [None if v is None else (v["mrr_minor"], v["currency"], v["status"]) for v in values]

    # Before the history began, nothing; a change is in force from its very instant.
    assert facts(answer[grown]) == [
        None,
        (100_000, "EUR", "active"),
        (130_000, "EUR", "active"),
        (130_000, "EUR", "active"),
    ]
    assert facts(answer[cancelled])[1:] == [
        (100_000, "USD", "active"),
        (100_000, "USD", "active"),
        (100_000, "USD", "cancelled"),
    ]
    assert answer[unknown] == [None] * 4
    assert datetime.fromisoformat(answer[grown][2]["at"]) == changed_at

    refused = await ingest.post("/v1/accounts/mrr", json={"account_ids": [grown], "at": []})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["pointer"] == "/at"
    naive = await ingest.post(
        "/v1/accounts/mrr", json={"account_ids": [grown], "at": ["2026-01-01T00:00:00"]}
    )
    assert naive.status_code == 422
