"""A program's results on the four real services: accounts backfilled in ingest, decided by a
program with a 50% holdout on delivered snapshots, renewed, expanded, contracted or churned
in ingest's history; the credits granted and redeemed in the ledger.

Every date derives from now. Decisions can only be made now and renewal outcomes are final
only for past renewals, so the one step not taken through an API is moving the program's
decisions 60 days into the past in offers' table, as if they had been made then.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from services.offers.domain.results import METHOD, newcombe_difference
from shared.db import create_engine
from tests.conftest import Platform
from tests.e2e.test_accounts import account
from tests.e2e.test_offers_decisions import credit_program, live_program
from tests.e2e.test_offers_story import key
from tests.e2e.test_scoring import eventually
from tests.offers_support import delivery, held_out_account, snapshot, treated_account
from tests.support import ServiceProcess, free_port

HALF = Decimal(50)
ARR = 12 * 100_000


def days_ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


def renewal_ago(days: int) -> str:
    return (datetime.now(UTC).date() - timedelta(days=days)).isoformat()


async def load(ingest: httpx.AsyncClient, account_id: str, renewal: str, **facts: Any) -> None:
    """The account as the CRM had it 100 days ago: 1,000.00 a month, renewing on ``renewal``."""
    body = account(
        mrr_minor=100_000, currency="USD", renewal_date=renewal, effective_at=days_ago(100)
    )
    body.update(facts)
    answer = await ingest.put(f"/v1/accounts/{account_id}", json=body)
    assert answer.status_code == 201, answer.text


async def change(ingest: httpx.AsyncClient, account_id: str, days: float, **facts: Any) -> None:
    """A CRM change ``days`` ago (after the renewal 30 days ago, inside its 7-day grace)."""
    body = account(
        mrr_minor=100_000, currency="USD", renewal_date=renewal_ago(30), effective_at=days_ago(days)
    )
    body.update(facts)
    answer = await ingest.put(f"/v1/accounts/{account_id}", json=body)
    assert answer.status_code == 200, answer.text


async def backdate_decisions(database_url: str, program_id: str, days: int) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE offers.decisions"
                    " SET decided_at = decided_at - make_interval(days => :d)"
                    " WHERE program_id = :p"
                ),
                {"d": days, "p": program_id},
            )
    finally:
        await engine.dispose()


async def test_treated_against_held_out_at_renewal_with_the_interval_nrr_and_costs(
    platform: Platform,
) -> None:
    name = f"results-{uuid.uuid4().hex[:8]}"
    definition = credit_program(
        name, holdout_percent=50, approval={"auto_approve_up_to_minor": 10_000}
    )
    program_id = await live_program(platform, definition)
    treated = [treated_account(program_id, "res-t", HALF) for _ in range(5)]
    held = [held_out_account(program_id, "res-h", HALF) for _ in range(4)]

    async with platform.client("ingest") as ingest:
        for account_id in [*treated[:4], *held[:3]]:
            await load(ingest, account_id, renewal_ago(30))
        await load(ingest, held[3], renewal_ago(30), currency="EUR")
        # Renews in 30 days: in the group, with no outcome yet.
        await load(ingest, treated[4], (datetime.now(UTC).date() + timedelta(30)).isoformat())
        # treated[0] renews as it was; held[2] and held[3] too.
        await change(ingest, treated[1], 28, mrr_minor=150_000)  # expanded
        await change(ingest, treated[2], 29, status="cancelled")  # churned
        await change(ingest, treated[3], 28, mrr_minor=80_000)  # contracted
        await change(ingest, held[0], 29, status="cancelled")  # churned
        await change(ingest, held[1], 27, status="cancelled")  # churned

    async with platform.client("offers") as offers:
        sent = delivery(*(snapshot(a, name=name) for a in [*treated, *held]))
        assert (await offers.post("/v1/notifications", json=sent)).status_code == 200
        made = await offers.get("/v1/decisions", params={"program_id": program_id})
        # Scoring's own snapshots of these accounts (named as the CRM named them) arrive too
        # and match nothing: only the delivered ones put an account in a group.
        outcomes = {
            d["account_id"]: d["outcome"]
            for d in made.json()["items"]
            if d["outcome"] in ("offered", "holdout")
        }
        assert outcomes == {**dict.fromkeys(treated, "offered"), **dict.fromkeys(held, "holdout")}
    await backdate_decisions(platform.database_url, program_id, 60)

    async with platform.client("ledger") as ledger:

        async def granted() -> Any:
            report = await ledger.get("/v1/reports/grants", params={"program_id": program_id})
            return report.json()["totals"]

        # The five auto-approved credits, granted through offers' outbox.
        await eventually(granted, lambda totals: totals == {"USD": 5 * 1_000})
        redeemed = await ledger.post(
            "/v1/redemptions",
            json={"account_id": treated[0], "unit": "USD", "amount": 600, "invoice_id": name},
            headers={"Idempotency-Key": name},
        )
        assert redeemed.status_code == 200, redeemed.text

    reader = await key(platform, "results-reader", "offers:read")
    async with platform.client("offers", reader) as offers:
        answer = await offers.get(f"/v1/programs/{program_id}/results")
        assert answer.status_code == 200, answer.text
        results = answer.json()

        assert results["method"] == METHOD == "Newcombe hybrid score (Wilson)"
        assert results["confidence"] == 0.95
        first = datetime.fromisoformat(results["window_from"])
        assert timedelta(days=59) < datetime.now(UTC) - first < timedelta(days=61)
        t, h = results["treated"], results["holdout"]
        assert (t["accounts"], t["final_outcomes"], t["no_outcome"], t["pending"]) == (5, 4, 1, 0)
        assert t["outcomes"] == {"renewed": 1, "expanded": 1, "contracted": 1, "churned": 1}
        assert (h["accounts"], h["final_outcomes"], h["in_both"]) == (4, 4, 0)
        assert h["outcomes"] == {"renewed": 2, "expanded": 0, "contracted": 0, "churned": 2}
        assert t["renewal_rate"] == pytest.approx(0.75)
        assert h["renewal_rate"] == pytest.approx(0.5)
        difference, interval = newcombe_difference(3, 4, 2, 4)
        assert results["difference"] == pytest.approx(difference)
        assert results["interval"] == {"lower": interval.lower, "upper": interval.upper}
        assert len(results["warnings"]) == 2  # four outcomes a group mean little
        assert (t["enough_data"], h["enough_data"]) == (False, False)
        # 4.5 accounts expected in each group: too few for the sample ratio test.
        assert results["sample_ratio"] == {
            "treated": 5,
            "holdout": 4,
            "target_holdout_share": 0.5,
            "observed_holdout_share": pytest.approx(4 / 9),
            "chi_square": None,
            "p_value": None,
            "mismatch": False,
        }

        # Every treated account was present at the start (60 days ago): ARR of 1,000.00 a
        # month each, then 1,000, 1,500, 0 (cancelled), 800 and 1,000 a month at the end.
        assert t["retention"] == {
            "currency": "USD",
            "accounts": 5,
            "arr_start_minor": 5 * ARR,
            "arr_end_minor": 12 * (100_000 + 150_000 + 80_000 + 100_000),
            "nrr": pytest.approx(4.3 / 5),
            "other_currency": 0,
        }
        # The EUR account is counted apart, not added to USD.
        assert (h["retention"]["accounts"], h["retention"]["other_currency"]) == (3, 1)
        assert h["retention"]["nrr"] == pytest.approx(1 / 3)

        assert results["costs"] == {
            "granted": {"USD": 5_000},
            "redeemed": {"USD": 600},
            "expired": {},
        }

        # A window that holds no renewal: every account without an outcome, no interval.
        early = await offers.get(
            f"/v1/programs/{program_id}/results",
            params={"from": days_ago(60), "to": days_ago(40)},
        )
        assert early.status_code == 200, early.text
        assert early.json()["treated"]["no_outcome"] == 5
        assert early.json()["interval"] is None

        empty = await offers.get(
            f"/v1/programs/{program_id}/results",
            params={"from": days_ago(10), "to": days_ago(20)},
        )
        assert empty.status_code == 422
        assert empty.json()["errors"][0]["parameter"] == "to"
        unknown = await offers.get("/v1/programs/no-such-program/results")
        assert unknown.status_code == 404
        assert unknown.json()["type"].endswith("/unknown-program")


async def test_results_without_ingest_are_a_503_to_send_again(platform: Platform) -> None:
    name = f"results-{uuid.uuid4().hex[:8]}"
    program_id = await live_program(platform, credit_program(name, holdout_percent=50))
    async with platform.client("offers") as offers:
        sent = delivery(snapshot(treated_account(program_id, "res-down", HALF), name=name))
        assert (await offers.post("/v1/notifications", json=sent)).status_code == 200
    # Another offers process on the same database, whose ingest is a port nobody listens on.
    env = {**platform.offers.env, "TENURE_INGEST_URL": f"http://127.0.0.1:{free_port()}"}
    blind = ServiceProcess("offers", platform.database_url, env=env)
    await asyncio.to_thread(blind.start)
    try:
        headers = {"Authorization": f"Bearer {platform.admin_key}"}
        async with httpx.AsyncClient(base_url=blind.url, headers=headers, timeout=30) as offers:
            answer = await offers.get(f"/v1/programs/{program_id}/results")
        assert answer.status_code == 503, answer.text
        assert answer.json()["type"].endswith("/dependency-unavailable")
        assert answer.headers["Retry-After"] == "5"
    finally:
        blind.stop()


async def test_a_ledger_that_never_answers_holds_no_connection_of_offers(
    platform: Platform,
) -> None:
    name = f"results-{uuid.uuid4().hex[:8]}"
    program_id = await live_program(platform, credit_program(name, holdout_percent=50))
    # A ledger that takes the connection and never answers (as a stopped process would).
    silent = await asyncio.start_server(lambda _r, _w: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    env = {
        **platform.offers.env,
        "TENURE_LEDGER_URL": f"http://127.0.0.1:{port}",
        "TENURE_DB_POOL_SIZE": "2",
        "TENURE_DB_MAX_OVERFLOW": "0",
    }
    stuck = ServiceProcess("offers", platform.database_url, env=env)
    await asyncio.to_thread(stuck.start)
    try:
        headers = {"Authorization": f"Bearer {platform.admin_key}"}
        async with httpx.AsyncClient(base_url=stuck.url, headers=headers, timeout=60) as offers:
            waiting = [
                asyncio.create_task(offers.get(f"/v1/programs/{program_id}/results"))
                for _ in range(6)
            ]
            # Six readers wait on the ledger, three times the pool: offers still answers.
            listed = await offers.get("/v1/offers", params={"limit": 1})
            assert listed.status_code == 200, listed.text
            answers = await asyncio.gather(*waiting)
        assert {a.status_code for a in answers} == {503}
        assert "did not answer within" in answers[0].json()["detail"]
    finally:
        stuck.stop()
        silent.close()


async def test_a_split_far_from_the_holdout_percent_is_a_sample_ratio_mismatch(
    platform: Platform,
) -> None:
    name = f"results-{uuid.uuid4().hex[:8]}"
    program_id = await live_program(platform, credit_program(name, holdout_percent=50))
    # 2 offered, 20 held out where 11 and 11 were expected: chi-square 14.7, p ≈ 0.00013.
    accounts = [treated_account(program_id, "srm-t", HALF) for _ in range(2)]
    accounts += [held_out_account(program_id, "srm-h", HALF) for _ in range(20)]
    async with platform.client("offers") as offers:
        sent = delivery(*(snapshot(a, name=name) for a in accounts))
        assert (await offers.post("/v1/notifications", json=sent)).status_code == 200
        answer = await offers.get(f"/v1/programs/{program_id}/results")
    assert answer.status_code == 200, answer.text
    split = answer.json()["sample_ratio"]
    assert (split["treated"], split["holdout"], split["mismatch"]) == (2, 20, True)
    assert split["chi_square"] == pytest.approx(2 * 9**2 / 11)
    assert split["p_value"] < 0.001
    assert any(w.startswith("Sample ratio mismatch") for w in answer.json()["warnings"])
