"""The back-test: scores from 90 days before renewals that passed, against what happened."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any

import httpx
import pytest

from tests.conftest import make_key, service_keys
from tests.e2e.test_accounts import account, new_id
from tests.e2e.test_events import event
from tests.e2e.test_scoring import eventually, iso
from tests.support import ServiceProcess

TODAY = datetime.now(UTC).date()
RENEWAL = TODAY - timedelta(days=20)  # passed, and past the outcome's 7-day grace
LEAD = RENEWAL - timedelta(days=90)  # the day the back-test reads the score of


def at(day: date, hour: int = 12) -> str:
    return iso(datetime.combine(day, time(hour), UTC))


@pytest.fixture
async def clients(
    fresh_database: str,
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Ingest and scoring of their own: the back-test reads every renewal of the book."""
    keys = await service_keys(fresh_database)
    admin = await make_key(fresh_database, "admin")
    scoring = ServiceProcess(
        "scoring", fresh_database, env={"TENURE_SERVICE_API_KEY": keys["scoring"]}
    )
    ingest = ServiceProcess(
        "ingest",
        fresh_database,
        env={"TENURE_SERVICE_API_KEY": keys["ingest"], "TENURE_SCORING_URL": scoring.url},
    )
    scoring.env["TENURE_INGEST_URL"] = ingest.url
    await asyncio.gather(asyncio.to_thread(scoring.start), asyncio.to_thread(ingest.start))
    headers = {"Authorization": f"Bearer {admin}"}
    try:
        async with (
            httpx.AsyncClient(base_url=ingest.url, headers=headers, timeout=30) as i,
            httpx.AsyncClient(base_url=scoring.url, headers=headers, timeout=30) as s,
        ):
            yield i, s
    finally:
        ingest.stop()
        scoring.stop()


async def enterprise_account(ingest: httpx.AsyncClient, *, busy: bool, churns: bool) -> str:
    account_id = new_id()
    facts: dict[str, Any] = account(
        motion_segment="enterprise",
        seats_purchased=50,
        champion_user_id="u0",
        contract_start=(TODAY - timedelta(days=400)).isoformat(),
        renewal_date=RENEWAL.isoformat(),
        effective_at=at(TODAY - timedelta(days=300)),
    )
    assert (await ingest.put(f"/v1/accounts/{account_id}", json=facts)).status_code == 201
    if busy:  # 30 users working every day of the week before the lead day
        events = [
            event(account_id, name, at(LEAD - timedelta(days=d)), user=f"u{u}")
            for d in range(7)
            for u in range(30)
            for name in ("login", "report_created", "workflow_run", "dashboard_viewed")
        ]
        events.append(event(account_id, "integration_connected", at(LEAD - timedelta(days=8))))
    else:  # one login, a month before the lead day
        events = [event(account_id, "login", at(LEAD - timedelta(days=30)))]
    for start in range(0, len(events), 1000):
        batch = {"events": events[start : start + 1000]}
        assert (await ingest.post("/v1/events", json=batch)).status_code == 200
    if churns:
        cancelled = {
            **facts,
            "status": "cancelled",
            "effective_at": at(RENEWAL - timedelta(days=2)),
        }
        assert (await ingest.put(f"/v1/accounts/{account_id}", json=cancelled)).status_code == 200
    return account_id


def scored(response: httpx.Response) -> bool:
    return response.status_code == 200


async def test_the_backtest_reads_the_score_90_days_ahead_against_each_outcome(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    ingest, scoring = clients
    stayers = [await enterprise_account(ingest, busy=True, churns=False) for _ in range(3)]
    churners = [await enterprise_account(ingest, busy=False, churns=True) for _ in range(3)]
    everyone = stayers + churners

    empty = (await scoring.get("/v1/scorecards/enterprise/backtest")).json()
    assert empty["auc"] is None
    assert empty["verdict"].startswith("not enough outcomes")

    # Fill in the book's history as of the lead day, as a CSM team starting with Tenure would.
    job = await scoring.post(
        "/v1/recompute", json={"account_ids": everyone, "as_of": LEAD.isoformat()}
    )
    assert job.status_code == 202, job.text
    assert job.json()["as_of"] == LEAD.isoformat()
    await eventually(
        lambda: scoring.get(f"/v1/jobs/{job.json()['id']}"),
        lambda r: r.json()["status"] == "succeeded",
    )
    history = (await scoring.get(f"/v1/scores/{stayers[0]}/history", params={"days": 400})).json()
    assert LEAD.isoformat() in {p["day"] for p in history["points"]}

    # The back-test takes each account's motion from its current score: wait until scoring
    # has caught up with all six (it scores them as ingest tells it, in the background).
    for account_id in everyone:
        await eventually(partial(scoring.get, f"/v1/scores/{account_id}"), scored)
    result = (await scoring.get("/v1/scorecards/enterprise/backtest")).json()
    assert (result["renewals"], result["unscored"]) == (6, 0)
    assert (result["churned"], result["stayed"]) == (3, 3)
    assert result["auc"] == 1.0
    assert result["verdict"].startswith("separates")
    assert result["by_colour"]["red"]["churned"] == result["by_colour"]["red"]["renewals"] >= 1
    assert result["by_colour"]["green"]["churned"] == 0

    smb = (await scoring.get("/v1/scorecards/smb/backtest")).json()
    assert smb["renewals"] == 0

    for as_of in (TODAY + timedelta(days=1), TODAY - timedelta(days=400)):
        refused = await scoring.post("/v1/recompute", json={"as_of": as_of.isoformat()})
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["pointer"] == "/as_of"
