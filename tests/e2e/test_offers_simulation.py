"""Simulation on a real offers process: a draft, an edited definition of it and a live default
run against every kept snapshot with known totals, and nothing changed by any of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from shared.db import create_engine
from tests.conftest import make_key, service_keys
from tests.offers_support import delivery, due_for_renewal, snapshot, treated_account
from tests.support import ServiceProcess

# The draft: a 10,000 credit for every tier but gold, 2 % of ARR for gold; accounts whose id
# starts with "sim-"; a program budget of 250,000; no cooldown, no holdout.
DRAFT: dict[str, Any] = {
    "name": "Simulated",
    "owner": "sim-owner",
    "trigger": "account.account_id.startsWith('sim-')",
    "reward": {
        "kind": "credit",
        "amount": {"amount_minor": 10_000},
        "per_tier": {"gold": {"percent_of_arr": "2"}},
    },
    "limits": {"cooldown_days": 0, "budget_minor": 250_000},
    "holdout_percent": 0,
}
# Edited: gold gets 3 %, the program budget is 1,000,000 and gold has 150,000 of its own.
EDITED: dict[str, Any] = {
    **DRAFT,
    "reward": {**DRAFT["reward"], "per_tier": {"gold": {"percent_of_arr": "3"}}},
    "limits": {
        "cooldown_days": 0,
        "budget_minor": 1_000_000,
        "tier_budgets_minor": {"gold": 150_000},
    },
}
# Rows that deciding, reserving and offering write.
TABLES = (
    "offers.decisions",
    "offers.offers",
    "offers.offer_events",
    "offers.approvals",
    "offers.budgets",
    "offers.outbox",
    "ledger.transactions",
)


def book() -> list[dict[str, Any]]:
    """Six accounts the draft is for (by id order), none of which a default offers to."""
    return [
        snapshot("sim-a", arr_minor=6_000_000),
        snapshot("sim-b", arr_minor=5_000_000),
        snapshot("sim-c", arr_minor=4_000_000),
        snapshot("sim-d", tier="silver", arr_minor=1_000_000),
        snapshot("sim-e", tier="platinum", arr_minor=9_000_000, segment="hibernating"),
        snapshot("sim-f", status="cancelled"),
    ]


@pytest.fixture
async def offers(fresh_database: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """An offers process of its own (nothing else writes to its database) and an admin
    client; yields the client and the database URL."""
    keys = await service_keys(fresh_database)
    process = ServiceProcess(
        "offers", fresh_database, env={"TENURE_SERVICE_API_KEY": keys["offers"]}
    )
    await asyncio.to_thread(process.start)
    admin = await make_key(fresh_database, "admin")
    try:
        async with httpx.AsyncClient(
            base_url=process.url, headers={"Authorization": f"Bearer {admin}"}, timeout=30
        ) as client:
            yield client, fresh_database
    finally:
        await asyncio.to_thread(process.stop)


async def counts(database_url: str) -> dict[str, Any]:
    """Rows in every table a decision writes to, and what the budgets hold."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            found: dict[str, Any] = {
                t: (await conn.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one()
                for t in TABLES
            }
            budgets = await conn.execute(
                text("SELECT program_id, scope, committed_minor FROM offers.budgets ORDER BY 1, 2")
            )
            found["committed"] = [tuple(r) for r in budgets]
            return found
    finally:
        await engine.dispose()


def day(simulation: dict[str, Any], days: int) -> str:
    """The date ``days`` after the simulation's own day (never the test's clock)."""
    today = datetime.fromisoformat(simulation["simulated_at"]).date()
    return (today + timedelta(days=days)).isoformat()


async def test_simulation_totals_and_it_changes_nothing(
    offers: tuple[httpx.AsyncClient, str],
) -> None:
    client, database_url = offers
    # Two accounts the defaults offer to (decided at once on delivery): a gold renewal credit
    # of 3 % of 6,000,000 = 180,000, awaiting finance, reserved against renewal_credit's
    # budget; and a save-before-discount perk, issued at once.
    renewing = treated_account("renewal_credit", "other")
    cancelling = treated_account("save_before_discount", "other")
    sent = delivery(*book(), due_for_renewal(renewing), snapshot(cancelling, cancel_intent=True))
    assert (await client.post("/v1/notifications", json=sent)).status_code == 200
    created = await client.post("/v1/programs", json=DRAFT)
    assert created.status_code == 201, created.text
    program_id = created.json()["id"]
    before = await counts(database_url)
    assert before["offers.offers"] == 2
    assert before["committed"] == [("renewal_credit", "program", 180_000)]

    # The draft's pending version 1, in id order against its 250,000:
    # sim-a gold 2 % of 6,000,000 = 120,000 (120,000); sim-b 100,000 (220,000);
    # sim-c 80,000 would make 300,000: budget_exhausted; sim-d silver 10,000 (230,000);
    # sim-e platinum 10,000 (240,000), hibernating; sim-f cancelled: not_eligible; the two
    # others: trigger_false. 4 offers, 240,000 on ARR 21,000,000: 1.142... = 1.14 %.
    pending = await client.post(f"/v1/programs/{program_id}/simulate", json={})
    assert pending.status_code == 200, pending.text
    body = pending.json()
    assert (body["simulated"], body["version"], body["currency"]) == ("pending", 1, "USD")
    assert body["accounts"] == 8
    assert body["outcomes"] == {
        "not_eligible": 1,
        "trigger_false": 2,
        "holdout": 0,
        "cooldown": 0,
        "account_limit": 0,
        "arr_cap": 0,
        "budget_exhausted": 1,
        "offered": 4,
    }
    assert (body["offers"], body["cost_minor"], body["arr_minor"]) == (4, 240_000, 21_000_000)
    assert body["cost_percent_of_arr"] == "1.14"
    assert body["by_tier"] == {
        "silver": {"offers": 1, "cost_minor": 10_000, "arr_minor": 1_000_000},
        "gold": {"offers": 2, "cost_minor": 220_000, "arr_minor": 11_000_000},
        "platinum": {"offers": 1, "cost_minor": 10_000, "arr_minor": 9_000_000},
    }
    segments = {k: v for k, v in body["by_segment"].items() if v["offers"]}
    assert segments == {
        "steady": {"offers": 3, "cost_minor": 230_000, "arr_minor": 12_000_000},
        "hibernating": {"offers": 1, "cost_minor": 10_000, "arr_minor": 9_000_000},
    }
    # No spend yet: the simulated 240,000 is the pace per 30 days; 250,000 run out in
    # ceil(250,000 x 30 / 240,000) = ceil(31.25) = 32 days.
    assert body["budgets"] == [
        {
            "scope": "program",
            "cap_minor": 250_000,
            "committed_minor": 0,
            "simulated_minor": 240_000,
            "pace_basis": "simulation",
            "pace_minor": 240_000,
            "runs_out_on": day(body, 32),
        }
    ]
    assert body["budget_runs_out_on"] == day(body, 32)

    # The same definition before it was saved: the same figures, with no program behind it.
    unsaved = await client.post("/v1/programs/simulate", json={"definition": DRAFT})
    assert unsaved.status_code == 200, unsaved.text
    first = unsaved.json()
    assert (first["program_id"], first["simulated"], first["version"]) == (None, "edited", None)
    figures = ("outcomes", "offers", "cost_minor", "by_tier", "by_segment", "budgets")
    assert {k: first[k] for k in figures} == {k: body[k] for k in figures}

    # The edited definition: gold 3 % against its own 150,000: sim-a 180,000 does not fit
    # gold; sim-b 150,000 does, exactly; sim-c 120,000 does not; sim-d and sim-e 10,000 each.
    # 3 offers, 170,000 on ARR 15,000,000: 1.133... = 1.13 %. Program: 1,000,000 at 170,000
    # per 30 days, ceil(176.47) = 177 days; gold: 150,000 at 150,000 per 30 days, 30 days.
    edited = await client.post(f"/v1/programs/{program_id}/simulate", json={"definition": EDITED})
    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert (body["simulated"], body["version"]) == ("edited", None)
    assert (body["outcomes"]["offered"], body["outcomes"]["budget_exhausted"]) == (3, 2)
    assert (body["offers"], body["cost_minor"], body["arr_minor"]) == (3, 170_000, 15_000_000)
    assert body["cost_percent_of_arr"] == "1.13"
    assert body["by_tier"]["gold"] == {"offers": 1, "cost_minor": 150_000, "arr_minor": 5_000_000}
    assert [(b["scope"], b["simulated_minor"], b["runs_out_on"]) for b in body["budgets"]] == [
        ("program", 170_000, day(body, 177)),
        ("tier:gold", 150_000, day(body, 30)),
    ]

    # A live default: renewal_credit's version 1. Its one offer (180,000, today) is its
    # recent pace; that account is cooling down and no other renews within 60 days, so
    # nothing would be offered. 9,820,000 left of 10,000,000 at 180,000 per 30 days:
    # ceil(1,636.67) = 1,637 days.
    live = await client.post("/v1/programs/renewal_credit/simulate")
    assert live.status_code == 200, live.text
    body = live.json()
    assert (body["simulated"], body["version"]) == ("live", 1)
    assert (body["outcomes"]["cooldown"], body["offers"]) == (1, 0)
    assert body["cost_percent_of_arr"] is None
    assert body["budgets"] == [
        {
            "scope": "program",
            "cap_minor": 10_000_000,
            "committed_minor": 180_000,
            "simulated_minor": 0,
            "pace_basis": "recent_offers",
            "pace_minor": 180_000,
            "runs_out_on": day(body, 1_637),
        }
    ]

    # Nothing was recorded, reserved, offered or sent by any of the three.
    assert await counts(database_url) == before


async def test_simulation_refusals(offers: tuple[httpx.AsyncClient, str]) -> None:
    client, _ = offers
    created = await client.post("/v1/programs", json=DRAFT)
    program_id = created.json()["id"]
    simulate = f"/v1/programs/{program_id}/simulate"

    bad_field = await client.post(simulate, json={"definition": {**DRAFT, "holdout_percent": 80}})
    assert bad_field.status_code == 422, bad_field.text
    assert bad_field.json()["type"].endswith("/validation")
    assert [e["pointer"] for e in bad_field.json()["errors"]] == ["/definition/holdout_percent"]

    # A trigger is checked as a save checks it: the same problem at the same position, the
    # pointer where this body holds it.
    bronze = {**DRAFT, "trigger": "account.tier == 'bronze'"}
    bad_trigger = await client.post(simulate, json={"definition": bronze})
    assert bad_trigger.status_code == 422, bad_trigger.text
    problem = bad_trigger.json()
    assert problem["type"].endswith("/invalid-trigger")
    (error,) = problem["errors"]
    assert error["pointer"] == "/definition/trigger"
    assert error["detail"].startswith("line 1, column 17 (position 16): ")
    (saved,) = (await client.post("/v1/programs", json=bronze)).json()["errors"]
    assert saved == {**error, "pointer": "/trigger"}

    unknown_key = await client.post(simulate, json={"definitions": DRAFT})
    assert unknown_key.status_code == 422
    assert [e["pointer"] for e in unknown_key.json()["errors"]] == ["/definitions"]

    # A definition not saved yet must be given, and is checked the same way.
    for sent, pointer in (({}, "/definition"), ({"definition": bronze}, "/definition/trigger")):
        refused = await client.post("/v1/programs/simulate", json=sent)
        assert refused.status_code == 422, refused.text
        assert [e["pointer"] for e in refused.json()["errors"]] == [pointer]

    unknown = await client.post("/v1/programs/no-such-program/simulate", json={})
    assert unknown.status_code == 404
    assert unknown.json()["type"].endswith("/unknown-program")


async def test_reading_is_enough_to_simulate(
    offers: tuple[httpx.AsyncClient, str],
) -> None:
    client, database_url = offers
    reader = await make_key(database_url, "offers:read")
    headers = {"Authorization": f"Bearer {reader}"}
    allowed = await client.post("/v1/programs/renewal_credit/simulate", headers=headers)
    assert allowed.status_code == 200, allowed.text
    nobody = await make_key(database_url, "ingest:read")
    refused = await client.post(
        "/v1/programs/renewal_credit/simulate", headers={"Authorization": f"Bearer {nobody}"}
    )
    assert refused.status_code == 403
