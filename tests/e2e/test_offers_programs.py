"""Programs end to end on a real offers process: triggers checked at save time, versions
approved by neither their author nor the owner, statuses, the shipped defaults seeded once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from services.offers.domain.defaults import DEFAULT_PROGRAMS
from shared.cli import create_key_at
from shared.db import create_engine
from tests.conftest import Platform, service_keys
from tests.support import ServiceProcess

Client = Callable[..., Awaitable[httpx.AsyncClient]]


def definition(**changes: Any) -> dict[str, Any]:
    """A program definition as a client sends it."""
    base: dict[str, Any] = {
        "name": "Renewal nudge",
        "owner": "olga",
        "trigger": "account.days_to_renewal != null && account.days_to_renewal <= 30",
        "reward": {"kind": "credit", "amount": {"amount_minor": 5000}},
        "limits": {"cooldown_days": 90},
    }
    return {**base, **changes}


@pytest.fixture
async def client_as(platform: Platform) -> AsyncIterator[Client]:
    """Clients of the offers process, each with a key of its own principal and scopes."""
    opened: list[httpx.AsyncClient] = []

    async def make(principal: str, *scopes: str) -> httpx.AsyncClient:
        _key, raw = await create_key_at(platform.database_url, principal, list(scopes))
        client = platform.client("offers", raw)
        opened.append(client)
        return client

    yield make
    for client in opened:
        await client.aclose()


async def all_programs(client: httpx.AsyncClient, **filters: str) -> list[dict[str, Any]]:
    """Every program a filtered list gives, over all its pages."""
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {**filters, "limit": 500}
    while True:
        page = (await client.get("/v1/programs", params=params)).json()
        found += page["items"]
        if page["next_cursor"] is None:
            return found
        params["cursor"] = page["next_cursor"]


def unique(name: str) -> str:
    """A principal name of this test alone, so tests sharing the platform stay apart."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


async def test_a_trigger_that_does_not_compile_is_refused_saying_where(
    client_as: Client,
) -> None:
    ada_name = unique("ada")
    ada = await client_as(ada_name, "offers:write", "offers:read")
    refused = await ada.post("/v1/programs", json=definition(trigger="account.cancel_intent &&"))
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["type"].endswith("/invalid-trigger")
    assert problem["errors"]
    for error in problem["errors"]:
        assert error["pointer"] == "/trigger"
        assert "line 1, column " in error["detail"]
        assert "(position " in error["detail"]

    assert problem["errors"][0]["detail"].startswith("line 1, column 25 (position 24): ")

    # A field the snapshot does not have, on the second line: found where it is.
    unknown_field = "account.segment == 'at_risk' &&\n  account.nonsense > 1"
    refused = await ada.post("/v1/programs", json=definition(trigger=unknown_field))
    assert refused.status_code == 422
    assert refused.json()["type"].endswith("/invalid-trigger")
    [error] = refused.json()["errors"]
    assert error["pointer"] == "/trigger"
    assert error["detail"].startswith("line 2, column 11 (position 42): ")
    assert "nonsense" in error["detail"]
    assert "nonsense" in refused.json()["detail"]
    # Refused programs were not saved.
    assert ada_name not in {p["created_by"] for p in await all_programs(ada, status="draft")}


async def test_every_other_bad_field_is_a_422_naming_it(client_as: Client) -> None:
    ada = await client_as(unique("ada"), "offers:write")
    cases: list[tuple[dict[str, Any], str]] = [
        ({**definition(), "colour": "red"}, "/colour"),
        (definition(holdout_percent=80), "/holdout_percent"),
        (definition(reward={"kind": "cash"}), "/reward"),
        (definition(limits={"period_days": 0}), "/limits/period_days"),
        (definition(currency="usd"), "/currency"),
        ({k: v for k, v in definition().items() if k != "owner"}, "/owner"),
    ]
    for body, pointer in cases:
        refused = await ada.post("/v1/programs", json=body)
        assert refused.status_code == 422, (body, refused.text)
        pointers = [e.get("pointer", "") for e in refused.json()["errors"]]
        assert any(p.startswith(pointer) for p in pointers), (pointer, pointers)


async def test_a_program_goes_live_only_by_a_third_party_and_versions_keep_who_and_when(
    client_as: Client,
) -> None:
    ada_name, olga_name, bob_name = unique("ada"), unique("olga"), unique("bob")
    ada = await client_as(ada_name, "offers:write", "offers:approve", "offers:read")
    olga = await client_as(olga_name, "offers:approve")
    bob = await client_as(bob_name, "offers:approve", "offers:read")

    created = await ada.post("/v1/programs", json=definition(owner=olga_name))
    assert created.status_code == 201, created.text
    program = created.json()
    pid = program["id"]
    assert uuid.UUID(pid)
    assert program["status"] == "draft"
    assert program["live"] is None
    assert program["live_version"] is None
    assert program["pending"]["version"] == 1
    assert program["pending"]["state"] == "pending"
    assert program["pending"]["created_by"] == ada_name
    assert program["pending"]["definition"]["owner"] == olga_name
    assert program["created_by"] == ada_name

    refused = await ada.post(f"/v1/programs/{pid}/approve", json={"version": 1})
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/approval-forbidden")
    assert "wrote" in refused.json()["detail"]
    refused = await olga.post(f"/v1/programs/{pid}/approve", json={"version": 1})
    assert refused.status_code == 403
    assert "owns" in refused.json()["detail"]

    approved = await bob.post(f"/v1/programs/{pid}/approve", json={"version": 1, "comment": "ok"})
    assert approved.status_code == 200, approved.text
    program = approved.json()
    assert program["status"] == "active"
    assert program["live"]["version"] == 1
    assert program["live"]["approved_by"] == bob_name
    assert program["live"]["comment"] == "ok"
    assert program["pending"] is None
    assert program["updated_at"] > program["created_at"]
    again = await bob.post(f"/v1/programs/{pid}/approve", json={"version": 1})
    assert again.status_code == 409
    assert again.json()["type"].endswith("/illegal-transition")

    edited = await ada.put(f"/v1/programs/{pid}", json=definition(owner=olga_name, name="v2"))
    assert edited.status_code == 200, edited.text
    shown = (await bob.get(f"/v1/programs/{pid}")).json()
    assert shown["live"]["version"] == 1
    assert shown["live"]["definition"]["name"] == "Renewal nudge"
    assert shown["pending"]["version"] == 2
    assert shown["pending"]["definition"]["name"] == "v2"
    assert shown["status"] == "active"

    # A second edit before approval supersedes the first; only the newest can go live.
    edited = await ada.put(f"/v1/programs/{pid}", json=definition(owner=olga_name, name="v3"))
    assert edited.json()["pending"]["version"] == 3
    assert (await bob.post(f"/v1/programs/{pid}/approve", json={"version": 2})).status_code == 409
    assert (await bob.post(f"/v1/programs/{pid}/approve", json={"version": 9})).status_code == 409
    approved = await bob.post(f"/v1/programs/{pid}/approve", json={"version": 3})
    assert approved.status_code == 200
    assert approved.json()["live"]["definition"]["name"] == "v3"
    assert approved.json()["live_version"] == 3

    versions = (await bob.get(f"/v1/programs/{pid}/versions")).json()
    assert [(v["version"], v["state"]) for v in versions["items"]] == [
        (3, "live"),
        (2, "superseded"),
        (1, "superseded"),
    ]
    assert [v["approved_by"] for v in versions["items"]] == [bob_name, None, bob_name]
    assert all(v["created_by"] == ada_name for v in versions["items"])
    assert versions["items"][1]["approved_at"] is None
    assert versions["next_cursor"] is None

    paged: list[int] = []
    params: dict[str, Any] = {"limit": 1}
    while True:
        page = (await bob.get(f"/v1/programs/{pid}/versions", params=params)).json()
        paged += [v["version"] for v in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert paged == [3, 2, 1]

    events = (await bob.get(f"/v1/programs/{pid}/events")).json()["items"]
    assert [(e["event"], e["version"], e["principal"]) for e in events] == [
        ("created", 1, ada_name),
        ("approved", 1, bob_name),
        ("edited", 2, ada_name),
        ("edited", 3, ada_name),
        ("approved", 3, bob_name),
    ]


async def test_status_changes_and_what_they_refuse(client_as: Client) -> None:
    ada = await client_as(unique("ada"), "offers:write", "offers:read")
    bob = await client_as(unique("bob"), "offers:approve")
    pid = (await ada.post("/v1/programs", json=definition())).json()["id"]

    async def move(status: str, reason: str = "because") -> httpx.Response:
        return await ada.post(
            f"/v1/programs/{pid}/status", json={"status": status, "reason": reason}
        )

    refused = await move("active")
    assert refused.status_code == 409
    assert "no approved version" in refused.json()["detail"]
    assert (await move("paused")).status_code == 409
    assert (await move("draft")).status_code == 422
    assert (
        await ada.post(f"/v1/programs/{pid}/status", json={"status": "paused"})
    ).status_code == 422  # a reason is required

    assert (await bob.post(f"/v1/programs/{pid}/approve", json={"version": 1})).status_code == 200
    before = (await ada.get(f"/v1/programs/{pid}")).json()
    paused = await move("paused", "budget review")
    assert paused.status_code == 200
    assert paused.json()["status"] == "paused"
    assert paused.json()["updated_at"] > before["updated_at"]
    assert (await move("paused")).status_code == 409

    # A paused program can be edited and its new version approved; it stays paused.
    assert (await ada.put(f"/v1/programs/{pid}", json=definition(name="v2"))).status_code == 200
    approved = await bob.post(f"/v1/programs/{pid}/approve", json={"version": 2})
    assert approved.json()["status"] == "paused"
    assert approved.json()["live_version"] == 2

    assert (await move("active", "review done")).json()["status"] == "active"
    assert (await move("active")).status_code == 409
    archived = await move("archived", "replaced by a new program")
    assert archived.json()["status"] == "archived"
    for status in ("active", "paused", "archived"):
        refused = await move(status)
        assert refused.status_code == 409
        assert "final" in refused.json()["detail"]
    refused = await ada.put(f"/v1/programs/{pid}", json=definition(name="v3"))
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/illegal-transition")
    assert (await bob.post(f"/v1/programs/{pid}/approve", json={"version": 2})).status_code == 409

    events = (await ada.get(f"/v1/programs/{pid}/events")).json()["items"]
    changes = [(e["status"], e["reason"]) for e in events if e["event"] == "status"]
    assert changes == [
        ("paused", "budget review"),
        ("active", "review done"),
        ("archived", "replaced by a new program"),
    ]


async def test_scopes_and_unknown_programs(client_as: Client) -> None:
    reader = await client_as(unique("rita"), "offers:read")
    writer = await client_as(unique("wes"), "offers:write")
    assert (await reader.post("/v1/programs", json=definition())).status_code == 403
    pid = (await writer.post("/v1/programs", json=definition())).json()["id"]
    refused = await writer.post(f"/v1/programs/{pid}/approve", json={"version": 1})
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/forbidden")
    missing = await reader.get("/v1/programs/no-such-program")
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("/unknown-program")
    assert (await reader.get("/v1/programs/no-such-program/versions")).status_code == 404
    assert (await writer.put("/v1/programs/no-such-program", json=definition())).status_code == 404


async def test_two_approvers_at_once_one_wins(client_as: Client) -> None:
    ada = await client_as(unique("ada"), "offers:write", "offers:read")
    approvers = [await client_as(unique(f"appr{i}"), "offers:approve") for i in range(4)]
    for _round in range(3):
        pid = (await ada.post("/v1/programs", json=definition())).json()["id"]
        answers = await asyncio.gather(
            *(a.post(f"/v1/programs/{pid}/approve", json={"version": 1}) for a in approvers)
        )
        assert sorted(r.status_code for r in answers) == [200, 409, 409, 409]
        winner = next(r for r in answers if r.status_code == 200).json()["live"]["approved_by"]
        versions = (await ada.get(f"/v1/programs/{pid}/versions")).json()["items"]
        assert [(v["state"], v["approved_by"]) for v in versions] == [("live", winner)]


async def test_the_list_filters_by_status_and_takes_only_its_own_cursors(
    client_as: Client,
) -> None:
    ada = await client_as(unique("ada"), "offers:write", "offers:read")
    made = {(await ada.post("/v1/programs", json=definition())).json()["id"] for _ in range(3)}
    seen: list[str] = []
    params: dict[str, Any] = {"status": "draft", "limit": 2}
    while True:
        page = await ada.get("/v1/programs", params=params)
        assert page.status_code == 200, page.text
        seen += [p["id"] for p in page.json()["items"]]
        assert all(p["status"] == "draft" for p in page.json()["items"])
        if page.json()["next_cursor"] is None:
            break
        params["cursor"] = page.json()["next_cursor"]
    assert made <= set(seen)
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen))

    first = (await ada.get("/v1/programs", params={"status": "draft", "limit": 1})).json()
    cursor = first["next_cursor"]
    assert cursor
    forged = await ada.get("/v1/programs", params={"status": "draft", "cursor": cursor + "x"})
    assert forged.status_code == 400
    assert forged.json()["errors"][0]["parameter"] == "cursor"
    # A cursor of the drafts is not one of the active programs.
    other = await ada.get("/v1/programs", params={"status": "active", "cursor": cursor})
    assert other.status_code == 400
    assert (await ada.get("/v1/programs", params={"status": "gone"})).status_code == 422


async def assert_defaults_shipped(client: httpx.AsyncClient) -> None:
    """Each default is active with version 1 live, written and approved by ``tenure``."""
    for key, shipped in DEFAULT_PROGRAMS.items():
        program = (await client.get(f"/v1/programs/{key}")).json()
        assert program["default_key"] == key
        assert program["status"] == "active"
        assert program["created_by"] == "tenure"
        assert program["pending"] is None
        live = program["live"]
        assert (live["version"], live["state"]) == (1, "live")
        assert (live["created_by"], live["approved_by"]) == ("tenure", "tenure")
        assert live["definition"] == shipped.model_dump(mode="json")
    assert set(DEFAULT_PROGRAMS) <= {p["id"] for p in await all_programs(client, status="active")}


async def counts(database_url: str) -> dict[str, Any]:
    """What the database holds of the defaults."""
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            return {
                "seeds": await conn.scalar(text("SELECT count(*) FROM offers.program_seeds")),
                "programs": await conn.scalar(
                    text("SELECT count(*) FROM offers.programs WHERE default_key IS NOT NULL")
                ),
                "versions": await conn.scalar(text("SELECT count(*) FROM offers.program_versions")),
            }
    finally:
        await engine.dispose()


async def test_defaults_are_live_at_first_start_and_not_recreated_once_edited_or_archived(
    fresh_database: str,
) -> None:
    keys = await service_keys(fresh_database)
    _k, admin = await create_key_at(fresh_database, unique("ada"), ["offers:write", "offers:read"])
    _k, approver = await create_key_at(fresh_database, unique("bob"), ["offers:approve"])
    offers = ServiceProcess(
        "offers", fresh_database, env={"TENURE_SERVICE_API_KEY": keys["offers"]}
    )
    await asyncio.to_thread(offers.start)
    try:
        async with (
            httpx.AsyncClient(
                base_url=offers.url, headers={"Authorization": f"Bearer {admin}"}
            ) as ada,
            httpx.AsyncClient(
                base_url=offers.url, headers={"Authorization": f"Bearer {approver}"}
            ) as bob,
        ):
            await assert_defaults_shipped(ada)
            live = (await ada.get("/v1/programs/renewal_credit")).json()["live"]["definition"]
            edited = {**live, "name": "Renewal credit, ours"}
            assert (await ada.put("/v1/programs/renewal_credit", json=edited)).status_code == 200
            assert (
                await bob.post("/v1/programs/renewal_credit/approve", json={"version": 2})
            ).status_code == 200
            assert (
                await ada.put("/v1/programs/seat_expansion", json={**live, "name": "pending"})
            ).status_code == 200
            archived = await ada.post(
                "/v1/programs/at_risk_workshop/status",
                json={"status": "archived", "reason": "we run our own"},
            )
            assert archived.status_code == 200

            await asyncio.to_thread(offers.stop)
            await asyncio.to_thread(offers.start)

            renewal = (await ada.get("/v1/programs/renewal_credit")).json()
            assert renewal["live"]["version"] == 2
            assert renewal["live"]["definition"]["name"] == "Renewal credit, ours"
            seats = (await ada.get("/v1/programs/seat_expansion")).json()
            assert seats["pending"]["version"] == 2
            assert seats["live"]["version"] == 1
            workshop = (await ada.get("/v1/programs/at_risk_workshop")).json()
            assert workshop["status"] == "archived"
    finally:
        await asyncio.to_thread(offers.stop)
    assert await counts(fresh_database) == {
        "seeds": len(DEFAULT_PROGRAMS),
        "programs": len(DEFAULT_PROGRAMS),
        "versions": len(DEFAULT_PROGRAMS) + 2,
    }


async def test_two_processes_starting_on_one_fresh_database_create_each_default_once(
    fresh_database: str,
) -> None:
    keys = await service_keys(fresh_database)
    procs = [
        ServiceProcess("offers", fresh_database, env={"TENURE_SERVICE_API_KEY": keys["offers"]})
        for _ in range(2)
    ]
    try:
        for proc in procs:
            proc.start(wait=False)
        for proc in procs:
            await asyncio.to_thread(proc.wait_ready)
    finally:
        for proc in procs:
            await asyncio.to_thread(proc.stop)
    assert await counts(fresh_database) == {
        "seeds": len(DEFAULT_PROGRAMS),
        "programs": len(DEFAULT_PROGRAMS),
        "versions": len(DEFAULT_PROGRAMS),
    }


async def test_a_live_programs_currency_cannot_change(client_as: Client) -> None:
    ada = await client_as(unique("ada"), "offers:write", "offers:read")
    ben = await client_as(unique("ben"), "offers:approve", "offers:read")
    pid = (await ada.post("/v1/programs", json=definition())).json()["id"]
    # Before it goes live, a draft may change its mind.
    assert (
        await ada.put(f"/v1/programs/{pid}", json=definition(currency="EUR"))
    ).status_code == 200
    assert (await ben.post(f"/v1/programs/{pid}/approve", json={"version": 2})).status_code == 200
    moved = await ada.put(f"/v1/programs/{pid}", json=definition(currency="GBP"))
    assert moved.status_code == 422, moved.text
    assert [e["pointer"] for e in moved.json()["errors"]] == ["/currency"]
    assert "EUR" in moved.json()["errors"][0]["detail"]
    simulated = await ben.post(
        f"/v1/programs/{pid}/simulate", json={"definition": definition(currency="GBP")}
    )
    assert simulated.status_code == 422, simulated.text
    assert [e["pointer"] for e in simulated.json()["errors"]] == ["/definition/currency"]
