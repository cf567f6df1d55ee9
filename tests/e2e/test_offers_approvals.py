"""The approvals inbox on a real offers process of its own database: offers made pending by
the snapshots scoring delivers to a program needing an approver and finance, and program
versions awaiting approval, each with what the caller may do and why not.

Each test has a program of its own with two offers awaiting approval."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from shared import migrate
from shared.cli import create_key_at
from tests.conftest import create_database, drop_database, service_keys
from tests.offers_support import delivery, snapshot
from tests.support import ServiceProcess, free_port, scratch_database_name, with_database

PRINCIPALS = {
    "author": ["offers:write", "offers:read"],
    "owner": ["offers:approve", "offers:read"],
    "ann": ["offers:approve", "offers:read"],
    "bob": ["offers:approve", "offers:read"],
    "fin": ["offers:approve_finance", "offers:read"],
    "reader": ["offers:read"],
    "carol": ["offers:write", "offers:approve", "offers:read"],
}
BUDGET = 10_000
VALUE = 1_000


def definition(tag: str, **changes: Any) -> dict[str, Any]:
    """A program owned by ``owner`` offering 1,000 to accounts named ``tag``: above 500 an
    offer needs an approver and finance; its budget takes ten."""
    body: dict[str, Any] = {
        "name": f"Inbox {tag}",
        "owner": "owner",
        "trigger": f"account.name == '{tag}'",
        "reward": {"kind": "credit", "amount": {"amount_minor": VALUE}},
        "limits": {"cooldown_days": 0, "max_offers_per_account": 1, "budget_minor": BUDGET},
        "approval": {"auto_approve_up_to_minor": 0, "finance_above_minor": 500},
        "holdout_percent": 0,
    }
    body.update(changes)
    return body


@dataclass
class Offers:
    process: ServiceProcess
    keys: dict[str, str]

    def client(self, who: str) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.keys[who]}"}
        return httpx.AsyncClient(base_url=self.process.url, headers=headers, timeout=30)


@pytest.fixture(scope="module")
async def offers(server_url: str) -> AsyncIterator[Offers]:
    name = scratch_database_name()
    await create_database(server_url, name)
    url = with_database(server_url, name)
    await migrate.upgrade(url)
    keys = {p: (await create_key_at(url, p, s))[1] for p, s in PRINCIPALS.items()}
    services = await service_keys(url)
    keys["scoring"] = services["scoring"]
    process = ServiceProcess(
        "offers",
        url,
        env={
            "TENURE_SERVICE_API_KEY": services["offers"],
            "TENURE_LEDGER_URL": f"http://127.0.0.1:{free_port()}",
        },
    )
    await asyncio.to_thread(process.start)
    yield Offers(process, keys)
    process.stop()
    await drop_database(server_url, name)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def problem(response: httpx.Response, status: int, slug: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == f"https://tenure.dev/problems/{slug}", body
    return str(body["detail"])


async def listed(offers: Offers, who: str, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of an inbox list as ``who`` sees it, following the cursor one item a page."""
    found: list[dict[str, Any]] = []
    query: dict[str, Any] = {**params, "limit": 1}
    async with offers.client(who) as client:
        while True:
            page = ok(await client.get(path, params=query))
            found += page["items"]
            if page["next_cursor"] is None:
                return found
            query["cursor"] = page["next_cursor"]


async def inbox(offers: Offers, who: str, program_id: str, **params: Any) -> list[dict[str, Any]]:
    """The pending offers of one program, as ``who`` sees them, in the order listed."""
    items = await listed(offers, who, "/v1/approvals/offers", **params)
    return [i for i in items if i["offer"]["program_id"] == program_id]


async def versions(offers: Offers, who: str, program_ids: set[str]) -> list[dict[str, Any]]:
    items = await listed(offers, who, "/v1/approvals/programs")
    return [i for i in items if i["program_id"] in program_ids]


@dataclass(frozen=True)
class Program:
    """A live program of one test's own, and the name its accounts go by."""

    id: str
    name: str


@pytest.fixture
async def program(offers: Offers) -> Program:
    """A live program with two offers awaiting approval: a red account's, then a green's."""
    name = f"inbox-{uuid.uuid4().hex[:8]}"
    async with offers.client("author") as author:
        created = ok(await author.post("/v1/programs", json=definition(name)), 201)
    async with offers.client("ann") as ann:
        ok(await ann.post(f"/v1/programs/{created['id']}/approve", json={"version": 1}))
    red = snapshot(f"{name}-red", name=name, computed_colour="red", colour="red")
    green = snapshot(f"{name}-green", name=name)
    async with offers.client("scoring") as scoring:
        for sent in (red, green):  # one after the other: the red account's offer is older
            ok(await scoring.post("/v1/notifications", json=delivery(sent)))
    return Program(str(created["id"]), name)


async def test_pending_offers_oldest_first_with_what_each_caller_may_do(
    offers: Offers, program: Program
) -> None:
    program_id, name = program.id, program.name
    shown = await inbox(offers, "ann", program_id)
    assert [i["offer"]["account_id"] for i in shown] == [f"{name}-red", f"{name}-green"]
    # Narrowed to the program by the API, the same two.
    narrowed = await listed(offers, "ann", "/v1/approvals/offers", program_id=program_id)
    assert [i["offer"]["id"] for i in narrowed] == [i["offer"]["id"] for i in shown]
    everything = await listed(offers, "ann", "/v1/approvals/offers")
    created = [(i["offer"]["created_at"], i["offer"]["id"]) for i in everything]
    assert [datetime.fromisoformat(at) for at, _ in created] == sorted(
        datetime.fromisoformat(at) for at, _ in created
    )
    assert all(i["offer"]["state"] == "pending_approval" for i in everything)

    async with offers.client("reader") as reader:
        found = ok(await reader.get("/v1/decisions", params={"program_id": program_id}))
    reasons = {d["offer_id"]: d["reason"] for d in found["items"]}
    for item, colour in zip(shown, ["red", "green"], strict=True):
        assert item["may_approve"] is True
        assert (item["slot"], item["why_not"]) == ("approver", None)
        assert item["approvals"] == []
        assert item["open_slots"] == ["approver", "finance"]
        assert item["reason"] == reasons[item["offer"]["id"]] == "trigger matched"
        assert item["health_colour"] == colour
        assert item["account_name"] == name
        assert item["program_name"] == f"Inbox {name}"
        assert item["budget_left_minor"] == BUDGET - 2 * VALUE
        made = datetime.fromisoformat(item["offer"]["created_at"])
        assert 0 <= item["age_seconds"] <= (datetime.now(UTC) - made).total_seconds() + 1

    for who, why in {
        "owner": "owner owns the program, and an owner cannot approve",
        "reader": "the approval still missing takes the offers:approve scope",
    }.items():
        for item in await inbox(offers, who, program_id):
            assert (item["may_approve"], item["slot"], item["why_not"]) == (False, None, why)
    for item in await inbox(offers, "fin", program_id):
        assert (item["may_approve"], item["slot"], item["why_not"]) == (True, "finance", None)


async def test_a_cursor_not_of_this_list_is_a_400_problem(offers: Offers, program: Program) -> None:
    async with offers.client("reader") as reader:
        garbled = await reader.get("/v1/approvals/offers", params={"cursor": "not-a-cursor"})
        assert "cursor is not valid" in problem(garbled, 400, "bad-request")
        page = ok(await reader.get("/v1/approvals/offers", params={"limit": 1}))
        assert page["next_cursor"] is not None
        # A cursor is bound to its list and its filters.
        for path, params in (
            ("/v1/approvals/offers", {"mine": "true"}),
            ("/v1/approvals/programs", {}),
            ("/v1/offers", {}),
        ):
            foreign = await reader.get(path, params={**params, "cursor": page["next_cursor"]})
            problem(foreign, 400, "bad-request")
        assert (
            await reader.get("/v1/approvals/offers", params={"mine": "maybe"})
        ).status_code == 422
    async with httpx.AsyncClient(base_url=offers.process.url) as anonymous:
        assert (await anonymous.get("/v1/approvals/offers")).status_code == 401
        assert (await anonymous.get("/v1/approvals/programs")).status_code == 401


async def test_after_an_approval_finance_fills_the_rest_and_mine_keeps_what_each_may_approve(
    offers: Offers, program: Program
) -> None:
    program_id, name = program.id, program.name
    red, green = await inbox(offers, "ann", program_id)
    async with offers.client("ann") as ann:
        ok(await ann.post(f"/v1/offers/{red['offer']['id']}/approve", json={"comment": "ok"}))

    red, green = await inbox(offers, "fin", program_id)
    assert (red["may_approve"], red["slot"], red["why_not"]) == (True, "finance", None)
    assert red["open_slots"] == ["finance"]
    [given] = red["approvals"]
    assert (given["slot"], given["principal"], given["comment"]) == ("approver", "ann", "ok")
    red, green = await inbox(offers, "ann", program_id)
    assert (red["may_approve"], red["why_not"]) == (False, "ann has already approved this offer")
    assert green["may_approve"] is True
    red, _ = await inbox(offers, "bob", program_id)
    assert red["why_not"] == "the approval still missing is finance's (offers:approve_finance)"

    def accounts(items: list[dict[str, Any]]) -> list[str]:
        return [i["offer"]["account_id"] for i in items]

    assert accounts(await inbox(offers, "fin", program_id, mine=True)) == [
        f"{name}-red",
        f"{name}-green",
    ]
    assert accounts(await inbox(offers, "bob", program_id, mine=True)) == [f"{name}-green"]
    assert accounts(await inbox(offers, "ann", program_id, mine=True)) == [f"{name}-green"]
    assert await inbox(offers, "owner", program_id, mine=True) == []
    assert all(
        i["may_approve"] for i in await listed(offers, "bob", "/v1/approvals/offers", mine=True)
    )
    # One a page: Ann's one is found past the red account's (older, not hers) and the list
    # ends with it; Fin's two come one a page.
    one_a_page: dict[str, Any] = {"mine": "true", "limit": 1, "program_id": program_id}
    async with offers.client("ann") as ann:
        page = ok(await ann.get("/v1/approvals/offers", params=one_a_page))
    assert (accounts(page["items"]), page["next_cursor"]) == ([f"{name}-green"], None)
    async with offers.client("fin") as fin:
        first = ok(await fin.get("/v1/approvals/offers", params=one_a_page))
        cursor = {**one_a_page, "cursor": first["next_cursor"]}
        second = ok(await fin.get("/v1/approvals/offers", params=cursor))
    assert accounts(first["items"] + second["items"]) == [f"{name}-red", f"{name}-green"]
    assert second["next_cursor"] is None

    # Approved, the red account's offer leaves the inbox; it still commits the budget.
    async with offers.client("fin") as fin:
        approved = ok(await fin.post(f"/v1/offers/{red['offer']['id']}/approve", json={}))
    assert approved["state"] == "approved"
    [green] = await inbox(offers, "fin", program_id)
    assert green["offer"]["account_id"] == f"{name}-green"
    assert green["budget_left_minor"] == BUDGET - 2 * VALUE


async def test_program_versions_awaiting_approval_with_what_they_change_and_who_may_approve(
    offers: Offers, program: Program
) -> None:
    program_id, name = program.id, program.name
    # Carol may approve versions, but not one she wrote.
    async with offers.client("carol") as carol:
        fresh = ok(await carol.post("/v1/programs", json=definition(f"new-{name}")), 201)
    async with offers.client("author") as author:
        edited = definition(name, description="Now with a description", limits={"budget_minor": 5})
        ok(await author.put(f"/v1/programs/{program_id}", json=edited))
    mine = {program_id, fresh["id"]}

    never_live, edit = await versions(offers, "bob", mine)  # oldest first
    assert (never_live["program_id"], never_live["version"]["version"]) == (fresh["id"], 1)
    assert never_live["live_version"] is None
    assert never_live["version"]["state"] == "pending"
    assert never_live["version"]["created_by"] == "carol"
    assert never_live["changed"] == list(never_live["version"]["definition"])
    assert (edit["program_id"], edit["version"]["version"], edit["live_version"]) == (
        program_id,
        2,
        1,
    )
    assert edit["version"]["created_by"] == "author"
    assert edit["changed"] == ["description", "limits"]
    for item in (never_live, edit):
        assert (item["may_approve"], item["why_not"]) == (True, None)

    scope = "approving a program version takes the offers:approve scope"
    owns = "'owner' owns this program and cannot approve its versions"
    wrote = "'carol' wrote this version and cannot approve it"
    refusals: dict[str, list[str | None]] = {
        "carol": [wrote, None],
        "author": [scope, scope],
        "fin": [scope, scope],
        "owner": [owns, owns],
    }
    for who, why in refusals.items():
        seen = await versions(offers, who, mine)
        assert [i["why_not"] for i in seen] == why, who
        assert [i["may_approve"] for i in seen] == [w is None for w in why], who
    # What the inbox said is what approving answers.
    async with offers.client("carol") as carol:
        refused = await carol.post(f"/v1/programs/{fresh['id']}/approve", json={"version": 1})
        assert wrote in problem(refused, 403, "approval-forbidden")


async def test_an_archived_programs_offers_and_versions_say_so(
    offers: Offers, program: Program
) -> None:
    async with offers.client("author") as author:
        edited = definition(program.name, description="An edit left waiting")
        ok(await author.put(f"/v1/programs/{program.id}", json=edited))
        body = {"status": "archived", "reason": "ended"}
        ok(await author.post(f"/v1/programs/{program.id}/status", json=body))
    pending = await inbox(offers, "bob", program.id)
    assert len(pending) == 2
    archived = "its program is archived, so nothing more of it is approved; reject or revoke it"
    for item in pending:
        assert (item["may_approve"], item["slot"], item["why_not"]) == (False, None, archived)
    async with offers.client("bob") as bob:
        refused = await bob.post(f"/v1/offers/{pending[0]['offer']['id']}/approve", json={})
        assert archived in problem(refused, 409, "illegal-transition")
    [edit] = await versions(offers, "bob", {program.id})
    assert edit["why_not"] == "the program is archived, which is final: nothing goes live"
