"""The programs' read-only tools on the real platform: every program's figures in one page
(budgets, offers by state, run-out at the recent pace), a trigger checked on its own, and one
account dry-run without anything recorded."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.cli import create_key_at
from tests.conftest import Platform, make_key
from tests.console_support import Person, pending_credit
from tests.offers_support import delivery, snapshot


async def summary_of(platform: Platform, program_id: str) -> dict[str, Any]:
    async with platform.client("offers") as offers:
        cursor = None
        while True:
            params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
            page = (await offers.get("/v1/programs/summary", params=params)).json()
            found = [p for p in page["items"] if p["id"] == program_id]
            if found:
                return dict(found[0])
            cursor = page["next_cursor"]
            assert cursor, f"program {program_id} is not in the summary"


async def test_the_summary_gives_each_programs_budget_offers_and_run_out(
    platform: Platform,
) -> None:
    credit = await pending_credit(platform, Person(f"owner-{uuid.uuid4().hex[:8]}"))
    before = datetime.now(UTC).date()
    ours = await summary_of(platform, credit.program_id)
    after = datetime.now(UTC).date()
    assert ours["status"] == "active"
    assert ours["live_version"] == 1
    assert ours["pending_version"] is None
    assert ours["name"].startswith("Console credit")
    assert ours["offers_by_state"]["pending_approval"] == 1
    assert sum(ours["offers_by_state"].values()) == 1
    assert (ours["reserved_minor"], ours["spent_minor"]) == (150_000, 0)
    assert (ours["budget_cap_minor"], ours["committed_minor"]) == (1_000_000, 150_000)
    program = ours["budgets"][0]
    assert program["scope"] == "program"
    assert program["pace_basis"] == "recent_offers"
    assert (program["pace_minor"], program["simulated_minor"]) == (150_000, 0)
    # 850,000 left at 150,000 per 30 days: ceil(170) days.
    assert ours["budget_runs_out_on"] in {
        (day + timedelta(days=170)).isoformat() for day in (before, after)
    }


async def test_the_summary_pages_and_needs_offers_read(platform: Platform) -> None:
    await pending_credit(platform, Person(f"owner-{uuid.uuid4().hex[:8]}"))
    await pending_credit(platform, Person(f"owner-{uuid.uuid4().hex[:8]}"))
    stranger = await make_key(platform.database_url, "ledger:read")
    async with platform.client("offers") as offers:
        first = (await offers.get("/v1/programs/summary", params={"limit": 1})).json()
        second = (
            await offers.get(
                "/v1/programs/summary", params={"limit": 1, "cursor": first["next_cursor"]}
            )
        ).json()
        bad = await offers.get("/v1/programs/summary", params={"limit": 0})
    async with platform.client("offers", stranger) as outsider:
        refused = await outsider.get("/v1/programs/summary")
    assert len(first["items"]) == 1
    assert first["next_cursor"]
    assert second["items"][0]["id"] > first["items"][0]["id"]
    assert bad.status_code == 422
    assert refused.status_code == 403


async def test_a_trigger_is_checked_on_its_own_with_each_problem_where_it_is(
    platform: Platform,
) -> None:
    reader = await make_key(platform.database_url, "offers:read")
    async with platform.client("offers", reader) as offers:
        good = await offers.post(
            "/v1/programs/check-trigger", json={"trigger": "account.health_score < 40"}
        )
        bad = await offers.post(
            "/v1/programs/check-trigger", json={"trigger": "account.health_score >"}
        )
        unknown = await offers.post(
            "/v1/programs/check-trigger",
            json={"trigger": "account.days_to_renewal <= 60 &&\n  account.nope == 1"},
        )
        empty = await offers.post("/v1/programs/check-trigger", json={"trigger": ""})
    assert good.json() == {"ok": True, "problems": []}
    assert bad.status_code == 200
    problem = bad.json()["problems"][0]
    assert bad.json()["ok"] is False
    assert (problem["line"], problem["column"], problem["position"]) == (1, 23, 22)
    named = unknown.json()["problems"][0]
    assert (named["line"], named["column"]) == (2, 11)  # at "nope"
    assert "nope" in named["message"]
    assert empty.status_code == 422


async def test_a_dry_run_decides_one_account_and_records_nothing(platform: Platform) -> None:
    credit = await pending_credit(platform, Person(f"owner-{uuid.uuid4().hex[:8]}"))
    fresh = f"dry-{uuid.uuid4().hex[:10]}"
    _k, scoring = await create_key_at(platform.database_url, "service:scoring", ["offers:write"])
    # A snapshot no live program's trigger matches: kept, decided, offered nothing.
    async with platform.client("offers", scoring) as as_scoring:
        sent = await as_scoring.post("/v1/notifications", json=delivery(snapshot(fresh)))
        assert sent.status_code == 200, sent.text
    async with platform.client("offers") as offers:
        program = (await offers.get(f"/v1/programs/{credit.program_id}")).json()
        edited = {**program["live"]["definition"], "trigger": f"account.account_id == '{fresh}'"}
        decided = (await offers.get("/v1/decisions", params={"account_id": fresh})).json()
        offered = await offers.post(
            f"/v1/programs/{credit.program_id}/dry-run",
            json={"account_id": fresh, "definition": edited},
        )
        stored = await offers.post(
            f"/v1/programs/{credit.program_id}/dry-run", json={"account_id": credit.account_id}
        )
        unknown = await offers.post(
            f"/v1/programs/{credit.program_id}/dry-run", json={"account_id": "nobody-at-all"}
        )
        bad = await offers.post(
            f"/v1/programs/{credit.program_id}/dry-run",
            json={"account_id": fresh, "definition": {**edited, "trigger": "account.tier =="}},
        )
        missing = await offers.post("/v1/programs/no-such/dry-run", json={"account_id": fresh})
        # The same definition not saved as a program: nothing committed against its budget.
        unsaved = await offers.post(
            "/v1/programs/dry-run", json={"account_id": fresh, "definition": edited}
        )
        unsaved_without = await offers.post("/v1/programs/dry-run", json={"account_id": fresh})
        after = (await offers.get("/v1/decisions", params={"account_id": fresh})).json()
        summary = await summary_of(platform, credit.program_id)
    assert offered.status_code == 200, offered.text
    run = offered.json()
    assert (run["outcome"], run["simulated"], run["version"]) == ("offered", "edited", None)
    assert run["value_minor"] == 150_000
    assert (run["approvals_required"], run["finance_required"]) == (2, True)
    assert run["budgets"] == [
        {"scope": "program", "cap_minor": 1_000_000, "committed_minor": 150_000, "fits": True}
    ]
    assert stored.json()["outcome"] == "account_limit"
    assert (stored.json()["simulated"], stored.json()["version"]) == ("live", 1)
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["pointer"] == "/account_id"
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["pointer"] == "/definition/trigger"
    assert missing.status_code == 404
    assert unsaved.status_code == 200, unsaved.text
    tried = unsaved.json()
    assert (tried["program_id"], tried["outcome"]) == (None, "offered")
    assert tried["value_minor"] == 150_000
    assert tried["budgets"] == [
        {"scope": "program", "cap_minor": 1_000_000, "committed_minor": 0, "fits": True}
    ]
    assert unsaved_without.status_code == 422
    assert unsaved_without.json()["errors"][0]["pointer"] == "/definition"
    # Nothing recorded, reserved or offered.
    assert after["items"] == decided["items"]
    assert summary["committed_minor"] == 150_000
    assert summary["offers_by_state"]["pending_approval"] == 1
