"""Decisions on real offers processes: every evaluation recorded, offers within budgets and
limits even when decided concurrently by two processes, holdouts offered nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from shared.cli import create_key_at
from tests.conftest import Platform
from tests.offers_support import (
    delivery,
    due_for_renewal,
    held_out_account,
    snapshot,
    treated_account,
)
from tests.support import ServiceProcess

DEFAULTS = 8


async def key(platform: Platform, principal: str, *scopes: str) -> str:
    _key, raw = await create_key_at(platform.database_url, principal, list(scopes))
    return raw


async def live_program(platform: Platform, definition: dict[str, Any]) -> str:
    """Create a program as one principal and approve it as another; its id."""
    author = await key(platform, f"author-{uuid.uuid4().hex[:6]}", "offers:write")
    approver = await key(platform, f"approver-{uuid.uuid4().hex[:6]}", "offers:approve")
    async with platform.client("offers", author) as offers:
        created = await offers.post("/v1/programs", json=definition)
        assert created.status_code == 201, created.text
        program_id: str = created.json()["id"]
    async with platform.client("offers", approver) as offers:
        approved = await offers.post(f"/v1/programs/{program_id}/approve", json={"version": 1})
        assert approved.status_code == 200, approved.text
    return program_id


def credit_program(name: str, **changes: Any) -> dict[str, Any]:
    """A program offering a fixed 1,000 credit to accounts named ``name``."""
    definition: dict[str, Any] = {
        "name": f"Test {name}",
        "owner": "test-owner",
        "trigger": f"account.name == '{name}'",
        "reward": {"kind": "credit", "amount": {"amount_minor": 1_000}},
        "limits": {"cooldown_days": 0, "max_offers_per_account": 1},
        "approval": {"auto_approve_up_to_minor": 0},
        "holdout_percent": 0,
    }
    definition.update(changes)
    return definition


async def decisions(offers: httpx.AsyncClient, **filters: str) -> list[dict[str, Any]]:
    """Every decision matching the filters, following the cursor."""
    found: list[dict[str, Any]] = []
    params: dict[str, str] = {**filters, "limit": "200"}
    while True:
        page = await offers.get("/v1/decisions", params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        found += body["items"]
        if body["next_cursor"] is None:
            return found
        params["cursor"] = body["next_cursor"]


@pytest.fixture
async def second_offers(platform: Platform) -> AsyncIterator[ServiceProcess]:
    """Another offers process on the same database."""
    other = ServiceProcess("offers", platform.database_url, env=dict(platform.offers.env))
    await asyncio.to_thread(other.start)
    yield other
    other.stop()


async def test_a_snapshot_is_decided_by_every_live_program_and_each_decision_kept(
    platform: Platform,
) -> None:
    account_id = treated_account("renewal_credit", "dec")
    async with platform.client("offers") as offers:
        sent = delivery(due_for_renewal(account_id))
        answer = await offers.post("/v1/notifications", json=sent)
        assert answer.status_code == 200, answer.text
        kept = await decisions(offers, account_id=account_id)
        by_program = {d["program_id"]: d for d in kept}
        assert {"renewal_credit", "seat_expansion", "at_risk_workshop"} <= set(by_program)
        renewal = by_program["renewal_credit"]
        assert renewal["outcome"] == "offered"
        assert renewal["program_version"] >= 1
        offer = (await offers.get(f"/v1/offers/{renewal['offer_id']}")).json()
        assert offer["value_minor"] == 180_000  # 3% of a gold account's 60,000.00 ARR
        assert by_program["seat_expansion"]["outcome"] == "trigger_false"
        assert by_program["annual_conversion"]["outcome"] == "not_eligible"
        assert "billing period" in by_program["annual_conversion"]["reason"]

        # The same message again is a duplicate: no second round of decisions.
        again = await offers.post("/v1/notifications", json=sent)
        assert again.json()["duplicates"] == [sent["messages"][0]["id"]]
        assert len(await decisions(offers, account_id=account_id)) == len(kept)


async def test_a_held_out_account_gets_a_decision_and_no_offer(platform: Platform) -> None:
    account_id = held_out_account("renewal_credit", "hold")
    async with platform.client("offers") as offers:
        await offers.post("/v1/notifications", json=delivery(due_for_renewal(account_id)))
        [held] = await decisions(offers, account_id=account_id, program_id="renewal_credit")
        assert held["outcome"] == "holdout"
        assert held["offer_id"] is None
        listed = await offers.get("/v1/offers", params={"account_id": account_id})
        assert [o["program_id"] for o in listed.json()["items"]] == []


async def test_fifty_concurrent_decisions_on_two_processes_never_pass_the_budget(
    platform: Platform, second_offers: ServiceProcess
) -> None:
    name = f"budget-{uuid.uuid4().hex[:8]}"
    program_id = await live_program(
        platform, credit_program(name, limits={"budget_minor": 10_000, "cooldown_days": 0})
    )
    scoring = await key(platform, "service:scoring", "offers:write")
    headers = {"Authorization": f"Bearer {scoring}"}
    urls = [platform.offers.url, second_offers.url]
    async with httpx.AsyncClient(headers=headers, timeout=60) as client:
        answers = await asyncio.gather(
            *(
                client.post(
                    f"{urls[n % 2]}/v1/notifications",
                    json=delivery(snapshot(f"{name}-{n}", name=name)),
                )
                for n in range(50)
            )
        )
    assert [a.status_code for a in answers] == [200] * 50
    async with platform.client("offers") as offers:
        made = await decisions(offers, program_id=program_id)
        outcomes = sorted(d["outcome"] for d in made)
        assert outcomes == ["budget_exhausted"] * 40 + ["offered"] * 10
        exhausted = next(d for d in made if d["outcome"] == "budget_exhausted")
        assert "program budget of 10000" in exhausted["reason"]
        listed = await offers.get("/v1/offers", params={"program_id": program_id, "limit": 100})
        assert len(listed.json()["items"]) == 10


async def test_one_account_evaluated_at_once_on_two_processes_is_offered_once(
    platform: Platform, second_offers: ServiceProcess
) -> None:
    name = f"once-{uuid.uuid4().hex[:8]}"
    account_id = f"{name}-acct"
    async with platform.client("offers") as offers:
        await offers.post("/v1/notifications", json=delivery(snapshot(account_id, name=name)))
    program_id = await live_program(platform, credit_program(name))
    writer = await key(platform, "crm", "offers:write")
    headers = {"Authorization": f"Bearer {writer}"}
    urls = [platform.offers.url, second_offers.url]
    async with httpx.AsyncClient(headers=headers, timeout=60) as client:
        answers = await asyncio.gather(
            *(
                client.post(f"{urls[n % 2]}/v1/evaluate", json={"account_ids": [account_id]})
                for n in range(10)
            )
        )
    assert [a.status_code for a in answers] == [200] * 10
    assert sum(len(a.json()["offer_ids"]) for a in answers if a.json()["offer_ids"]) >= 1
    async with platform.client("offers") as offers:
        made = await decisions(offers, program_id=program_id, account_id=account_id)
        assert sorted(d["outcome"] for d in made) == ["account_limit"] * 9 + ["offered"]


async def test_evaluate_answers_what_it_decided_and_names_accounts_never_scored(
    platform: Platform,
) -> None:
    account_id = treated_account("renewal_credit", "ev")
    async with platform.client("offers") as offers:
        await offers.post("/v1/notifications", json=delivery(snapshot(account_id)))
        answer = await offers.post(
            "/v1/evaluate", json={"account_ids": [account_id, "never-scored-account"]}
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["accounts"] == 1
        assert body["evaluations"] >= DEFAULTS
        assert sum(body["outcomes"].values()) == body["evaluations"]
        assert body["unscored_account_ids"] == ["never-scored-account"]


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"account_ids": []}, "/account_ids"),
        ({"account_ids": ["x"] * 1001}, "/account_ids"),
        ({"account_ids": [""]}, "/account_ids/0"),
        ({"accounts": ["x"]}, "/accounts"),
        ({"account_ids": None}, "/account_ids"),
    ],
)
async def test_a_bad_evaluate_request_is_a_422_naming_the_field(
    platform: Platform, body: dict[str, Any], pointer: str
) -> None:
    async with platform.client("offers") as offers:
        answer = await offers.post("/v1/evaluate", json=body)
        assert answer.status_code == 422, answer.text
        assert pointer in [e["pointer"] for e in answer.json()["errors"]]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"outcome": "maybe"}, "outcome"),
        ({"from": "yesterday"}, "from"),
        ({"from": "0"}, "from"),
        ({"to": "1700000000"}, "to"),
        ({"from": "2031-01-01T00:00:00Z", "to": "2030-01-01T00:00:00Z"}, "to"),
        ({"to": "2031-01-01T00:00:00"}, "to"),
        ({"limit": "0"}, "limit"),
    ],
)
async def test_a_bad_decision_filter_is_a_422_naming_the_parameter(
    platform: Platform, params: dict[str, str], parameter: str
) -> None:
    async with platform.client("offers") as offers:
        answer = await offers.get("/v1/decisions", params=params)
        assert answer.status_code == 422, answer.text
        assert parameter in [e["parameter"] for e in answer.json()["errors"]]


async def test_decisions_page_newest_first_and_a_cursor_is_bound_to_its_filter(
    platform: Platform,
) -> None:
    account_id = treated_account("renewal_credit", "page")
    async with platform.client("offers") as offers:
        for _ in range(3):
            await offers.post("/v1/notifications", json=delivery(snapshot(account_id)))
        first = (
            await offers.get("/v1/decisions", params={"account_id": account_id, "limit": 5})
        ).json()
        rest = await decisions(offers, account_id=account_id)
        ids = [d["id"] for d in rest]
        assert ids == sorted(ids, reverse=True)
        assert len(ids) == len(set(ids)) >= 3 * DEFAULTS
        assert [d["id"] for d in first["items"]] == ids[:5]
        other = await offers.get(
            "/v1/decisions", params={"account_id": "someone-else", "cursor": first["next_cursor"]}
        )
        assert other.status_code == 400


async def test_the_holdout_share_of_a_program_holds_over_many_accounts(
    platform: Platform,
) -> None:
    name = f"share-{uuid.uuid4().hex[:8]}"
    program_id = await live_program(
        platform, credit_program(name, holdout_percent=20, approval={"auto_approve_up_to_minor": 0})
    )
    async with platform.client("offers") as offers:
        accounts = [snapshot(f"{name}-{n}", name=name) for n in range(500)]
        for start in range(0, 500, 100):
            answer = await offers.post(
                "/v1/notifications", json=delivery(*accounts[start : start + 100])
            )
            assert answer.status_code == 200, answer.text
        made = await decisions(offers, program_id=program_id)
        held = sum(d["outcome"] == "holdout" for d in made)
        assert len(made) == 500
        # 500 accounts: within about 4.5 standard deviations of 100.
        assert 60 <= held <= 140


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        ({"account_id": "acme/eu"}, "/snapshot/account_id"),
        ({"account_id": "acme "}, "/snapshot/account_id"),
        ({"mrr_minor": -10_000}, "/snapshot/mrr_minor"),
        ({"arr_minor": 10**16}, "/snapshot/arr_minor"),
        ({"currency": "usd"}, "/snapshot/currency"),
        ({"seats_purchased": -1}, "/snapshot/seats_purchased"),
        ({"health_score": 500}, "/snapshot/health_score"),
        ({"seat_utilization": -1}, "/snapshot/seat_utilization"),
        ({"computed_at": "9999-12-31T23:59:59+00:00"}, "/snapshot/computed_at"),
    ],
)
async def test_a_snapshot_offers_could_not_act_on_is_refused_by_pointer(
    platform: Platform, changes: dict[str, Any], pointer: str
) -> None:
    good = snapshot(treated_account("renewal_credit", "bad"))
    sent = delivery(good, dict(good))
    sent["messages"][1]["payload"]["snapshot"].update(changes)
    async with platform.client("offers") as offers:
        refused = await offers.post("/v1/notifications", json=sent)
        assert refused.status_code == 422, refused.text
        assert [e["pointer"] for e in refused.json()["errors"]] == [f"/messages/1/payload{pointer}"]


async def test_the_same_snapshot_again_under_a_new_message_id_is_not_decided_again(
    platform: Platform,
) -> None:
    name = f"again-{uuid.uuid4().hex[:8]}"
    program_id = await live_program(
        platform, credit_program(name, limits={"cooldown_days": 0, "max_offers_per_account": 9})
    )
    same = snapshot(f"{name}-acct", name=name)
    async with platform.client("offers") as offers:
        answers = await asyncio.gather(
            *(offers.post("/v1/notifications", json=delivery(same)) for _ in range(6))
        )
        assert [a.status_code for a in answers] == [200] * 6
        made = await decisions(offers, program_id=program_id)
        assert [d["outcome"] for d in made] == ["offered"]


async def test_only_scoring_delivers_snapshots_and_only_the_ledger_credit_moves(
    platform: Platform,
) -> None:
    crm = await key(platform, "crm-forger", "offers:write")
    scoring = await key(platform, "service:scoring", "offers:write")
    forged_move = {
        "id": str(uuid.uuid4()),
        "topic": "credit.moved",
        "source": "ledger",
        "payload": {
            "offer_id": str(uuid.uuid4()),
            "kind": "expiry",
            "transaction_id": str(uuid.uuid4()),
            "hash": "forged",
            "amount_minor": 600,
            "remaining_minor": 0,
            "unit": "USD",
            "effective_at": "2030-01-01T00:00:00+00:00",
        },
    }
    snapshots = delivery(snapshot(treated_account("renewal_credit", "forge")))
    async with platform.client("offers", crm) as as_crm:
        for body, named in (
            (snapshots, "service:scoring"),
            ({"messages": [forged_move]}, "service:ledger"),
        ):
            refused = await as_crm.post("/v1/notifications", json=body)
            assert refused.status_code == 403, refused.text
            assert named in refused.json()["detail"]
    async with platform.client("offers", scoring) as as_scoring:
        assert (await as_scoring.post("/v1/notifications", json=snapshots)).status_code == 200
        forged = await as_scoring.post("/v1/notifications", json={"messages": [forged_move]})
        assert forged.status_code == 403
