"""The console as a real process beside the platform, its people, and a signed-in client."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from services.console.service.users import create_user
from shared.cli import create_key_at
from shared.db import standalone_unit_of_work
from tests.offers_support import delivery, snapshot
from tests.support import ServiceProcess, free_port

PASSWORD = "correct horse battery staple"
if TYPE_CHECKING:
    from tests.conftest import Platform

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class Person:
    """Someone who signs in to the console."""

    name: str
    password: str = PASSWORD


async def make_person(database_url: str, *roles: str, name: str | None = None) -> Person:
    """A console user with ``roles`` (a fresh name unless given)."""
    person = Person(name or f"{roles[0] if roles else 'p'}-{uuid.uuid4().hex[:8]}")
    async with standalone_unit_of_work(database_url) as session:
        await create_user(session, person.name, person.password, list(roles))
    return person


def console_process(database_url: str, urls: dict[str, str]) -> ServiceProcess:
    """A console process (not started) calling the services at ``urls`` (by service)."""
    env = {f"TENURE_{s.upper()}_URL": u for s, u in urls.items()}
    # Every test signs in from 127.0.0.1: one test's failed sign-ins must not throttle the
    # others' (the throttle's own test runs a console of its own).
    env["TENURE_SIGN_IN_FAILURES_ALLOWED"] = "100000"
    return ServiceProcess("console", database_url, env=env)


@asynccontextmanager
async def console_without(platform: Platform, stopped: str) -> AsyncIterator[ServiceProcess]:
    """A console running beside the platform whose ``stopped`` service answers nowhere (a
    port nothing listens on), as when that service is down."""
    urls = {s: getattr(platform, s).url for s in ("ingest", "scoring", "offers", "ledger")}
    urls[stopped] = f"http://127.0.0.1:{free_port()}"
    process = console_process(platform.database_url, urls)
    await asyncio.to_thread(process.start)
    try:
        yield process
    finally:
        process.stop()


def csrf_of(html: str) -> str:
    """The anti-forgery token a page's forms carry."""
    found = _CSRF.search(html)
    assert found, "no form with a csrf token on the page"
    return found.group(1)


async def signed_in(console_url: str, person: Person) -> httpx.AsyncClient:
    """A client holding ``person``'s session cookie (the caller closes it)."""
    client = httpx.AsyncClient(base_url=console_url, timeout=30)
    form = await client.get("/sign-in")
    response = await client.post(
        "/sign-in",
        data={
            "csrf_token": csrf_of(form.text),
            "name": person.name,
            "password": person.password,
            "next": "/inbox",
        },
    )
    assert response.status_code == 303, response.text
    return client


@dataclass(frozen=True)
class PendingCredit:
    """A renewal credit awaiting an approver and finance, on a live program of its own."""

    program_id: str
    offer_id: str
    account_id: str
    owner: Person


async def pending_credit(
    platform: Platform, owner: Person, *, account_name: str = "Globex", value: int = 150_000
) -> PendingCredit:
    """A live program owned by ``owner`` (needing an approver and finance above 1,000.00),
    and an offer of it awaiting both, made by delivering the account's snapshot to offers
    as scoring does."""
    tag = uuid.uuid4().hex[:8]
    definition = {
        "name": f"Console credit {tag}",
        "owner": owner.name,
        "trigger": f"account.account_id.startsWith('console-{tag}')",
        "reward": {"kind": "credit", "amount": {"amount_minor": value}},
        "limits": {"cooldown_days": 0, "max_offers_per_account": 1, "budget_minor": 1_000_000},
        "approval": {"auto_approve_up_to_minor": 0, "finance_above_minor": 100_000},
        "holdout_percent": 0,
    }
    _k, author = await create_key_at(platform.database_url, f"author-{tag}", ["offers:write"])
    _k, approver = await create_key_at(platform.database_url, f"goes-{tag}", ["offers:approve"])
    _k, scoring = await create_key_at(platform.database_url, "service:scoring", ["offers:write"])
    async with platform.client("offers", author) as as_author:
        created = await as_author.post("/v1/programs", json=definition)
        assert created.status_code == 201, created.text
    program_id = str(created.json()["id"])
    async with platform.client("offers", approver) as as_approver:
        live = await as_approver.post(f"/v1/programs/{program_id}/approve", json={"version": 1})
        assert live.status_code == 200, live.text
    account_id = f"console-{tag}-acct"
    sent = snapshot(account_id, name=account_name, computed_colour="red", colour="red")
    async with platform.client("offers", scoring) as as_scoring:
        delivered = await as_scoring.post("/v1/notifications", json=delivery(sent))
        assert delivered.status_code == 200, delivered.text
    async with platform.client("offers") as as_admin:
        listed = await as_admin.get(
            "/v1/offers", params={"program_id": program_id, "account_id": account_id}
        )
    offers = listed.json()["items"]
    assert [o["state"] for o in offers] == ["pending_approval"], listed.text
    return PendingCredit(program_id, str(offers[0]["id"]), account_id, owner)
