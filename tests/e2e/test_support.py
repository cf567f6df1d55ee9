"""Tickets and surveys: idempotent, counted on their own days, visible in signals."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from tests.e2e.test_accounts import new_id
from tests.e2e.test_events import make_account


async def signals(ingest: httpx.AsyncClient, account_id: str) -> dict[str, Any]:
    body = {"account_ids": [account_id], "days": 30, "as_of": "2026-11-20"}
    result: dict[str, Any] = (await ingest.post("/v1/signals/query", json=body)).json()["accounts"][
        0
    ]
    return result


def ticket(
    account_id: str, ticket_id: str, status: str, at: str, severity: str = "high"
) -> dict[str, str]:
    return {
        "ticket_id": ticket_id,
        "account_id": account_id,
        "status": status,
        "severity": severity,
        "occurred_at": at,
    }


async def test_ticket_lifecycle_counts_once_per_transition(ingest: httpx.AsyncClient) -> None:
    account_id = await make_account(ingest)
    t1, t2 = new_id("t"), new_id("t")
    opened = ticket(account_id, t1, "open", "2026-11-18T09:00:00Z")
    first = await asyncio.gather(*(ingest.post("/v1/tickets", json=opened) for _ in range(5)))
    assert [r.status_code for r in first] == [200] * 5
    assert sum(r.json()["applied"] for r in first) == 1
    await ingest.post(
        "/v1/tickets", json=ticket(account_id, t2, "open", "2026-11-19T09:00:00Z", "low")
    )
    closed = await ingest.post(
        "/v1/tickets", json=ticket(account_id, t1, "closed", "2026-11-20T09:00:00Z")
    )
    assert closed.json()["status"] == "closed"
    stale = await ingest.post(
        "/v1/tickets", json=ticket(account_id, t1, "open", "2026-11-19T00:00:00Z")
    )
    assert stale.json()["applied"] is False
    assert stale.json()["status"] == "closed"

    result = await signals(ingest, account_id)
    assert result["support"]["open_tickets"] == {"low": 1}
    days = {r["day"]: r for r in result["rollups"]}
    assert days["2026-11-18"]["tickets_opened"] == 1
    assert days["2026-11-19"]["tickets_opened"] == 1
    assert days["2026-11-20"]["tickets_closed"] == 1


async def test_ticket_for_unknown_account_is_refused(ingest: httpx.AsyncClient) -> None:
    response = await ingest.post(
        "/v1/tickets", json=ticket(new_id(), "t", "open", "2026-11-18T09:00:00Z")
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/account_id"


async def test_surveys_are_idempotent_validated_and_latest_wins(ingest: httpx.AsyncClient) -> None:
    account_id = await make_account(ingest)
    older = {
        "id": f"s-{uuid.uuid4().hex}",
        "account_id": account_id,
        "kind": "nps",
        "score": 3,
        "responded_at": "2026-11-01T10:00:00Z",
    }
    newer = {
        **older,
        "id": f"s-{uuid.uuid4().hex}",
        "score": 9,
        "responded_at": "2026-11-10T10:00:00Z",
    }
    assert (await ingest.post("/v1/surveys", json=newer)).status_code == 201
    assert (await ingest.post("/v1/surveys", json=older)).status_code == 201
    repeat = await ingest.post("/v1/surveys", json=older)
    assert repeat.status_code == 200
    assert repeat.json()["duplicate"] is True
    csat = {**older, "id": f"s-{uuid.uuid4().hex}", "kind": "csat", "score": 4}
    assert (await ingest.post("/v1/surveys", json=csat)).status_code == 201

    support = (await signals(ingest, account_id))["support"]
    assert support["nps"]["score"] == 9
    assert support["csat"]["score"] == 4

    out_of_range = await ingest.post("/v1/surveys", json={**csat, "id": "x", "score": 9})
    assert out_of_range.status_code == 422
    assert "1-5" in out_of_range.text
