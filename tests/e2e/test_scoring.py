"""Scoring end to end: what ingest hears reaches each account's snapshot, and offers."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import Platform, service_keys
from tests.e2e.test_accounts import account, new_id
from tests.e2e.test_events import event
from tests.e2e.test_webhooks import post_stripe, source, subscription_event


async def eventually(
    fetch: Callable[[], Any], accept: Callable[[Any], bool], within: float = 30
) -> Any:
    """Poll ``fetch`` until ``accept`` holds (bounded), returning the accepted value."""
    deadline = time.monotonic() + within
    last = None
    while time.monotonic() < deadline:
        last = await fetch()
        if accept(last):
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened; last seen: {last}")


async def snapshot_of(scoring: httpx.AsyncClient, account_id: str) -> dict[str, Any] | None:
    response = await scoring.get(f"/v1/scores/{quote(account_id, safe='')}")
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def busy_account(ingest: httpx.AsyncClient, **fields: Any) -> str:
    """An account whose 12 users log in and work over the last days."""
    account_id = new_id()
    body = account(seats_purchased=40, champion_user_id="u0", **fields)
    assert (await ingest.put(f"/v1/accounts/{account_id}", json=body)).status_code == 201
    now = datetime.now(UTC)
    events = []
    for day in range(6):
        at = iso(now - timedelta(days=day, minutes=5))
        for user in range(12):
            events.append(event(account_id, "login", at, user=f"u{user}"))
            events.append(event(account_id, "report_created", at, user=f"u{user}"))
        events.append(event(account_id, "integration_connected", at))
        events.append(event(account_id, "workflow_run", at))
        events.append(event(account_id, "alert_configured", at))
    response = await ingest.post("/v1/events", json={"events": events})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(events)
    return account_id


async def test_events_and_billing_reach_the_snapshot_without_a_recompute(
    platform: Platform, ingest: httpx.AsyncClient, scoring: httpx.AsyncClient
) -> None:
    src = await source(ingest, "stripe")
    customer = f"cus_{uuid.uuid4().hex[:10]}"
    account_id = await busy_account(ingest, stripe_customer_id=customer)

    snap = await eventually(
        lambda: snapshot_of(scoring, account_id),
        lambda s: s is not None and s["active_seats"] == 12,
    )
    assert snap["tier"] == "silver"
    assert snap["motion_segment"] == "mid_market"
    assert snap["milestones"]["first_key_action"] <= datetime.now(UTC).date().isoformat()
    assert "ten_active_users" in snap["milestones"]
    assert snap["seat_utilization"] == 12 / 40
    measures = {m["measure"]: m for m in snap["measures"]}
    assert measures["login_recency"]["raw"] == 0
    assert sum(m["contribution"] for m in snap["measures"]) == pytest.approx(
        snap["health_score"], abs=0.1
    )

    # Billing says the subscription is now 120 seats, cancelling at period end.
    billed = subscription_event(customer, created=int(time.time()), quantity=120, cancel=True)
    assert (
        await post_stripe(platform, src["id"], src["signing_secret"], billed)
    ).status_code == 200
    snap = await eventually(
        lambda: snapshot_of(scoring, account_id), lambda s: s is not None and s["cancel_intent"]
    )
    assert snap["seats_purchased"] == 120
    assert snap["seat_utilization"] == 12 / 120


async def test_offers_hears_of_a_changed_snapshot_and_a_recompute_that_changes_nothing_is_silent(
    platform: Platform, ingest: httpx.AsyncClient, scoring: httpx.AsyncClient
) -> None:
    account_id = await busy_account(ingest)
    async with platform.client("offers") as offers:
        kept = await eventually(
            lambda: offers.get(f"/v1/snapshots/{account_id}"), lambda r: r.status_code == 200
        )
        first = kept.json()
        assert first["changes"] == ["created"]
        assert first["snapshot"]["account_id"] == account_id

        job = await scoring.post("/v1/recompute", json={"account_ids": [account_id]})
        assert job.status_code == 202
        done = await eventually(
            lambda: scoring.get(f"/v1/jobs/{job.json()['id']}"),
            lambda r: r.json()["status"] == "succeeded",
        )
        assert done.json() | {"scored": 1, "changed": 0, "done": 1} == done.json()
        again = (await offers.get(f"/v1/snapshots/{account_id}")).json()
        assert again["message_id"] == first["message_id"]

        # A change a program cares about (a new tier) is announced, with what changed.
        users = [f"v{i}" for i in range(30)]
        at = iso(datetime.now(UTC))
        events = [event(account_id, "login", at, user=u) for u in users]
        assert (await ingest.post("/v1/events", json={"events": events})).status_code == 200
        changed = await eventually(
            lambda: offers.get(f"/v1/snapshots/{account_id}"),
            lambda r: r.json()["message_id"] != first["message_id"],
        )
        assert "tier" in changed.json()["changes"]
        assert changed.json()["snapshot"]["tier"] == "gold"


async def test_scorecards_ship_defaults_version_on_edit_and_refuse_broken_rules(
    scoring: httpx.AsyncClient,
) -> None:
    cards = (await scoring.get("/v1/scorecards")).json()
    assert {c["motion"] for c in cards} == {"smb", "mid_market", "enterprise"}
    for card in cards:
        assert sum(card["weights"].values()) == pytest.approx(100)

    current = (await scoring.get("/v1/scorecards/enterprise")).json()
    body = {"weights": current["weights"], "thresholds": current["thresholds"]}

    unbalanced = {**body, "weights": {**body["weights"], "nps": body["weights"]["nps"] + 5}}
    refused = await scoring.put("/v1/scorecards/enterprise", json=unbalanced)
    assert refused.status_code == 422
    assert refused.json()["type"].endswith("/invalid-scorecard")
    assert "/weights" in {e["pointer"] for e in refused.json()["errors"]}

    points = [list(p) for p in body["thresholds"]["nps"]]
    points[0], points[1] = points[1], points[0]
    unordered = {**body, "thresholds": {**body["thresholds"], "nps": points}}
    refused = await scoring.put("/v1/scorecards/enterprise", json=unordered)
    assert refused.status_code == 422
    assert any(e["pointer"].startswith("/thresholds/nps") for e in refused.json()["errors"])

    malformed: list[dict[str, Any]] = [
        {**body, "weights": {**body["weights"], "nps": "many"}},
        {"weights": {}},
    ]
    for bad in malformed:
        response = await scoring.put("/v1/scorecards/enterprise", json=bad)
        assert response.status_code == 422

    preview = await scoring.post("/v1/scorecards/enterprise/preview", json=body)
    assert preview.status_code == 200
    assert preview.json()["moves"] == {}
    assert preview.json()["current"] == preview.json()["proposed"]

    saved = await scoring.put("/v1/scorecards/enterprise", json={**body, "comment": "same"})
    assert saved.status_code == 200
    assert saved.json()["version"] == current["version"] + 1
    versions = (await scoring.get("/v1/scorecards/enterprise/versions")).json()
    assert [v["version"] for v in versions][:2] == [saved.json()["version"], current["version"]]
    assert (await scoring.get("/v1/scorecards/galactic")).status_code == 422


async def scores_where(scoring: httpx.AsyncClient, **filters: Any) -> set[str]:
    """Every account id a filtered list of scores gives, over all its pages."""
    ids: set[str] = set()
    params: dict[str, Any] = {**filters, "limit": 500}
    while True:
        page = (await scoring.get("/v1/scores", params=params)).json()
        ids |= {s["account_id"] for s in page["items"]}
        if page["next_cursor"] is None:
            return ids
        params["cursor"] = page["next_cursor"]


async def test_an_override_shows_both_colours_until_it_ends(
    ingest: httpx.AsyncClient, scoring: httpx.AsyncClient
) -> None:
    account_id = await busy_account(ingest)
    snap = await eventually(lambda: snapshot_of(scoring, account_id), lambda s: s is not None)
    colour = "red" if snap["computed_colour"] != "red" else "green"
    expires = iso(datetime.now(UTC) + timedelta(days=14))
    body = {"colour": colour, "reason": "champion left", "expires_at": expires}
    response = await scoring.post(f"/v1/scores/{account_id}/override", json=body)
    assert response.status_code == 200, response.text
    overridden = response.json()
    assert overridden["colour"] == colour
    assert overridden["computed_colour"] == snap["computed_colour"]
    assert overridden["override"]["reason"] == "champion left"
    assert account_id in await scores_where(scoring, colour=colour)

    ended = await scoring.delete(f"/v1/scores/{account_id}/override")
    assert ended.status_code == 200
    assert ended.json()["override"] is None
    assert ended.json()["colour"] == snap["computed_colour"]
    assert account_id not in await scores_where(scoring, colour=colour)
    kept = (await scoring.get(f"/v1/scores/{account_id}/overrides")).json()
    assert [o["cleared_at"] is not None for o in kept] == [True]

    for when, field in (
        (timedelta(minutes=-1), "/expires_at"),
        (timedelta(days=400), "/expires_at"),
    ):
        bad = {**body, "expires_at": iso(datetime.now(UTC) + when)}
        refused = await scoring.post(f"/v1/scores/{account_id}/override", json=bad)
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["pointer"] == field
    for bad in ({**body, "colour": "blue"}, {**body, "reason": ""}, {**body, "expires_at": "soon"}):
        assert (
            await scoring.post(f"/v1/scores/{account_id}/override", json=bad)
        ).status_code == 422
    unknown = await scoring.post(f"/v1/scores/{new_id()}/override", json=body)
    assert unknown.status_code == 404
    assert unknown.json()["type"].endswith("/not-scored")


async def test_history_summary_and_bad_filters(
    ingest: httpx.AsyncClient, scoring: httpx.AsyncClient
) -> None:
    account_id = await busy_account(ingest)
    await eventually(lambda: snapshot_of(scoring, account_id), lambda s: s is not None)
    history = (await scoring.get(f"/v1/scores/{account_id}/history", params={"days": 7})).json()
    assert [p["day"] for p in history["points"]] == [datetime.now(UTC).date().isoformat()]
    assert account_id in await scores_where(scoring, renewal_window="60")  # renews in 30 days
    assert account_id not in await scores_where(scoring, renewal_window="90")
    summary = (await scoring.get("/v1/segments/summary")).json()
    assert summary["accounts"] >= 1
    assert sum(g["accounts"] for g in summary["by_tier"].values()) == summary["accounts"]
    for params in (
        {"colour": "purple"},
        {"health_below": "-1"},
        {"health_above": "nan"},
        {"renewal_window": "45"},
        {"cursor": "forged"},
    ):
        response = await scoring.get("/v1/scores", params=params)
        assert 400 <= response.status_code < 500, params
    for days in ("0", "401", "x"):
        response = await scoring.get(f"/v1/scores/{account_id}/history", params={"days": days})
        assert response.status_code == 422
    assert (await scoring.get(f"/v1/jobs/{uuid.uuid4()}")).status_code == 404
    assert (await scoring.post("/v1/recompute", json={"account_ids": []})).status_code == 422


async def test_scores_are_found_by_part_of_the_account_id_or_name(
    ingest: httpx.AsyncClient, scoring: httpx.AsyncClient
) -> None:
    tag = uuid.uuid4().hex[:10]
    named = await busy_account(ingest, name=f"Umbrella {tag.upper()} 50%_off")
    other = await busy_account(ingest, name="Umbrella 50 off")
    for account_id in (named, other):
        await eventually(partial(snapshot_of, scoring, account_id), lambda s: s is not None)
    assert await scores_where(scoring, q=tag) == {named}  # any case
    assert await scores_where(scoring, q=f"{tag} 50%_") == {named}  # % and _ as typed
    assert await scores_where(scoring, q=named[-8:]) == {named}  # part of the id
    assert other in await scores_where(scoring, q="umbrella 50 off")
    assert named not in await scores_where(scoring, q="umbrella 50 off")
    assert (await scoring.get("/v1/scores", params={"q": "x" * 201})).status_code == 422


async def test_concurrent_scorecard_saves_get_consecutive_versions(
    scoring: httpx.AsyncClient,
) -> None:
    current = (await scoring.get("/v1/scorecards/smb")).json()
    body = {"weights": current["weights"], "thresholds": current["thresholds"]}
    saves = await asyncio.gather(
        *(scoring.put("/v1/scorecards/smb", json={**body, "comment": f"n{n}"}) for n in range(6))
    )
    assert [r.status_code for r in saves] == [200] * 6
    versions = sorted(r.json()["version"] for r in saves)
    assert versions == list(range(versions[0], versions[0] + 6))
    assert versions[0] > current["version"]


async def test_concurrent_overrides_leave_one_in_force(
    ingest: httpx.AsyncClient, scoring: httpx.AsyncClient
) -> None:
    account_id = await busy_account(ingest)
    await eventually(lambda: snapshot_of(scoring, account_id), lambda s: s is not None)
    expires = iso(datetime.now(UTC) + timedelta(days=1))
    bodies = [
        {"colour": ("red", "yellow", "green")[n % 3], "reason": f"r{n}", "expires_at": expires}
        for n in range(9)
    ]
    answers = await asyncio.gather(
        *(scoring.post(f"/v1/scores/{account_id}/override", json=b) for b in bodies)
    )
    assert [a.status_code for a in answers] == [200] * 9
    kept = (await scoring.get(f"/v1/scores/{account_id}/overrides")).json()
    in_force = [o for o in kept if o["cleared_at"] is None]
    assert len(kept) == 9
    assert len(in_force) == 1
    snapshot = await snapshot_of(scoring, account_id)
    assert snapshot is not None
    assert snapshot["override"]["reason"] == in_force[0]["reason"]
    assert snapshot["colour"] == in_force[0]["colour"]


async def test_offers_refuses_a_snapshot_message_that_breaks_the_contract_by_pointer(
    platform: Platform, ingest: httpx.AsyncClient, scoring: httpx.AsyncClient
) -> None:
    account_id = await busy_account(ingest)
    snapshot = await eventually(lambda: snapshot_of(scoring, account_id), lambda s: s is not None)
    keys = await service_keys(platform.database_url)

    def message(**changes: Any) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid4()),
            "topic": "snapshot.changed",
            "source": "scoring",
            "payload": {"snapshot": {**snapshot, **changes}, "changes": ["colour"]},
        }

    async with platform.client("offers", keys["scoring"]) as offers:
        good = message()
        for bad, pointer in (
            (message(computed_at="2026-12-01T10:00:00"), "/snapshot/computed_at"),
            (message(computed_at="0001-01-01T00:00:00+01:00"), "/snapshot/computed_at"),
            (message(account_id="x" * 5000), "/snapshot/account_id"),
        ):
            refused = await offers.post("/v1/notifications", json={"messages": [good, bad]})
            assert refused.status_code == 422, refused.text
            assert [e["pointer"] for e in refused.json()["errors"]] == [
                f"/messages/1/payload{pointer}"
            ]
        # Nothing of a refused delivery was kept: the good message is new when sent alone.
        accepted = await offers.post("/v1/notifications", json={"messages": [good]})
        assert accepted.json()["processed"] == [good["id"]]
