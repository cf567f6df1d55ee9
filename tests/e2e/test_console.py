"""The console over HTTP, as a browser without JavaScript uses it: signing in and out, the
approvals inbox and its four-eyes rules held by the services, the offer's trace, and what
keeps it safe (anti-forgery tokens, escaping, headers, a service down)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import Platform
from tests.console_support import (
    PendingCredit,
    Person,
    console_process,
    console_without,
    csrf_of,
    make_person,
    pending_credit,
    signed_in,
)
from tests.e2e.test_scoring import eventually
from tests.support import ServiceProcess


def card(html: str, offer_id: str) -> str:
    """The inbox card of one offer."""
    found = re.search(rf'<article class="card" id="offer-{offer_id}".*?</article>', html, re.S)
    assert found, f"offer {offer_id} is not in the inbox"
    return re.sub(r"\s+", " ", found.group(0))


async def decide(
    client: httpx.AsyncClient, credit: PendingCredit, decision: str, comment: str
) -> httpx.Response:
    """Approve or reject ``credit``'s offer through the inbox's form, as the form sends it."""
    page = await client.get("/inbox")
    return await client.post(
        f"/offers/{credit.offer_id}/decide",
        data={
            "csrf_token": csrf_of(page.text),
            "decision": decision,
            "comment": comment,
            "program": credit.program_id,
        },
    )


async def offer_state(platform: Platform, offer_id: str) -> str:
    async with platform.client("offers") as offers:
        return str((await offers.get(f"/v1/offers/{offer_id}")).json()["state"])


async def test_signing_in_needs_a_known_name_and_password_and_says_so(
    platform: Platform, console: ServiceProcess
) -> None:
    async with httpx.AsyncClient(base_url=console.url) as client:
        away = await client.get("/inbox")
        assert away.status_code == 303
        assert away.headers["location"] == "/sign-in?next=%2Finbox"
        form = await client.get("/sign-in")
        refused = await client.post(
            "/sign-in",
            data={"csrf_token": csrf_of(form.text), "name": "nobody", "password": "not it at all"},
        )
    assert refused.status_code == 401
    assert "do not match a console user" in refused.text
    assert 'id="name" name="name" autocomplete="username" value="nobody"' in refused.text
    assert 'aria-invalid="true"' in refused.text


async def test_a_sign_in_form_from_another_site_is_refused(console: ServiceProcess) -> None:
    person = await make_person_on(console, "viewer")
    async with httpx.AsyncClient(base_url=console.url) as client:
        forged = await client.post(
            "/sign-in", data={"name": person.name, "password": person.password}
        )
    assert forged.status_code == 403
    assert "tenure_session" not in forged.headers.get("set-cookie", "")


async def make_person_on(console: ServiceProcess, *roles: str) -> Person:
    return await make_person(console.database_url, *roles)


async def test_the_session_cookie_is_guarded_and_pages_forbid_inline_script_and_framing(
    console: ServiceProcess,
) -> None:
    person = await make_person_on(console, "viewer")
    async with httpx.AsyncClient(base_url=console.url) as client:
        form = await client.get("/sign-in")
        answer = await client.post(
            "/sign-in",
            data={
                "csrf_token": csrf_of(form.text),
                "name": person.name,
                "password": person.password,
            },
        )
        page = await client.get("/inbox")
    cookie = next(c for c in answer.headers.get_list("set-cookie") if "tenure_session=" in c)
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "<script>" not in page.text  # scripts only from files, none inline
    # How much of the page's time was the APIs' (the inbox asks offers three things at once).
    assert re.fullmatch(
        r'api;dur=[\d.]+;desc="3 calls", total;dur=[\d.]+', page.headers["server-timing"]
    )


async def test_the_approval_story_through_the_console(
    platform: Platform, console: ServiceProcess
) -> None:
    owner = await make_person(platform.database_url, "product")
    approver = await make_person(platform.database_url, "approver")
    finance = await make_person(platform.database_url, "finance")
    credit = await pending_credit(platform, owner, account_name="Initech")
    as_owner = await signed_in(console.url, owner)
    as_approver = await signed_in(console.url, approver)
    as_finance = await signed_in(console.url, finance)
    try:
        # The approver sees it with what it takes to decide, and a button (in the inbox
        # narrowed to its program: the run's other tests leave a backlog of offers).
        narrowed = {"program": credit.program_id}
        mine = card((await as_approver.get("/inbox", params=narrowed)).text, credit.offer_id)
        assert "1,500.00 USD" in mine
        assert "colour-red" in mine
        assert "Approve as approver" in mine
        assert "Finance:</strong> still required" in mine
        # The owner sees why not, no button; a hand-made POST as the owner is refused too.
        # Waiting on someone else: found in the inbox narrowed to the program.
        theirs = card((await as_owner.get("/inbox", params=narrowed)).text, credit.offer_id)
        assert "You cannot approve this" in theirs
        assert "owns the program" in theirs
        assert "Approve as" not in theirs
        refused = await decide(as_owner, credit, "approve", "my own program")
        assert refused.status_code == 403
        assert "owns the program" in card(refused.text, credit.offer_id)
        assert await offer_state(platform, credit.offer_id) == "pending_approval"

        approved = await decide(as_approver, credit, "approve", "renewal at risk")
        assert approved.status_code == 303
        assert "done=approved" in approved.headers["location"]
        # The approver cannot give the second approval; finance can.
        after = card((await as_approver.get("/inbox", params=narrowed)).text, credit.offer_id)
        assert "already approved" in after
        seconded = await decide(as_finance, credit, "approve", "within budget")
        assert seconded.status_code == 303
        await eventually(
            lambda: offer_state(platform, credit.offer_id), lambda s: s == "issued", 30
        )

        trace = (await as_approver.get(f"/offers/{credit.offer_id}")).text
        assert "issued" in trace
        assert "Ledger: grant" in trace
        assert re.search(r"<code>[0-9a-f]{64}</code>", trace), "the grant's hash is shown"
        assert approver.name in trace
        assert finance.name in trace
        assert "renewal at risk" in trace
    finally:
        for client in (as_owner, as_approver, as_finance):
            await client.aclose()


async def test_a_post_without_the_forms_token_changes_nothing(
    platform: Platform, console: ServiceProcess
) -> None:
    owner = await make_person(platform.database_url, "product")
    approver = await make_person(platform.database_url, "approver")
    credit = await pending_credit(platform, owner)
    client = await signed_in(console.url, approver)
    try:
        for token in (None, "0" * 64):
            data = {"decision": "approve", "comment": "forged"}
            if token:
                data["csrf_token"] = token
            forged = await client.post(f"/offers/{credit.offer_id}/decide", data=data)
            assert forged.status_code == 403
            assert "anti-forgery token" in forged.text
        assert await offer_state(platform, credit.offer_id) == "pending_approval"
    finally:
        await client.aclose()


async def test_what_people_type_shows_as_text_never_as_markup(
    platform: Platform, console: ServiceProcess
) -> None:
    owner = await make_person(platform.database_url, "product")
    approver = await make_person(platform.database_url, "approver")
    credit = await pending_credit(platform, owner, account_name="<script>alert(1)</script>")
    client = await signed_in(console.url, approver)
    try:
        rejected = await decide(client, credit, "reject", "<script>alert(1)</script>")
        assert rejected.status_code == 303
        trace = (await client.get(f"/offers/{credit.offer_id}")).text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in trace
        assert "<script>alert(1)" not in trace
    finally:
        await client.aclose()


async def test_rejecting_without_a_comment_comes_back_on_the_form(
    platform: Platform, console: ServiceProcess
) -> None:
    owner = await make_person(platform.database_url, "product")
    approver = await make_person(platform.database_url, "approver")
    credit = await pending_credit(platform, owner)
    client = await signed_in(console.url, approver)
    try:
        refused = await decide(client, credit, "reject", "")
        assert refused.status_code == 422
        form = card(refused.text, credit.offer_id)
        assert 'role="alert"' in form
        assert "<code>/comment</code>" in form
        assert 'aria-invalid="true"' in form
        assert await offer_state(platform, credit.offer_id) == "pending_approval"
    finally:
        await client.aclose()


async def test_signing_out_ends_the_session_and_its_key(
    platform: Platform, console: ServiceProcess
) -> None:
    person = await make_person(platform.database_url, "viewer")
    client = await signed_in(console.url, person)
    try:
        key = client.cookies["tenure_session"]
        async with platform.client("offers", key) as as_person:
            assert (await as_person.get("/v1/approvals/offers")).status_code == 200
        page = await client.get("/inbox")
        out = await client.post("/sign-out", data={"csrf_token": csrf_of(page.text)})
        assert out.status_code == 303
        async with httpx.AsyncClient(base_url=console.url) as replay:
            replay.cookies.set("tenure_session", key)
            again = await replay.get("/inbox")
            assert again.status_code == 303  # back to the sign-in form
        async with platform.client("offers", key) as as_person:
            assert (await as_person.get("/v1/approvals/offers")).status_code == 401
    finally:
        await client.aclose()


@pytest.fixture
async def console_without_offers(platform: Platform) -> AsyncIterator[ServiceProcess]:
    """A console whose offers service is stopped (nothing answers on its port)."""
    async with console_without(platform, "offers") as process:
        yield process


async def test_a_page_says_which_service_is_down_and_still_renders(
    platform: Platform, console_without_offers: ServiceProcess
) -> None:
    person = await make_person(platform.database_url, "approver")
    client = await signed_in(console_without_offers.url, person)
    try:
        page = await client.get("/inbox")
    finally:
        await client.aclose()
    assert page.status_code == 200
    assert "offers is not answering (no connection)" in page.text
    assert person.name in page.text  # the rest of the page is there


@pytest.fixture
async def strict_console(platform: Platform) -> AsyncIterator[ServiceProcess]:
    """A console allowing two failed sign-ins per name and address."""
    urls = {s: getattr(platform, s).url for s in ("ingest", "scoring", "offers", "ledger")}
    process = console_process(platform.database_url, urls)
    process.env["TENURE_SIGN_IN_FAILURES_ALLOWED"] = "2"
    await asyncio.to_thread(process.start)
    yield process
    process.stop()


async def test_failed_sign_ins_are_throttled_with_a_clear_message(
    platform: Platform, strict_console: ServiceProcess
) -> None:
    person = await make_person(platform.database_url, "viewer")
    async with httpx.AsyncClient(base_url=strict_console.url) as client:
        statuses = []
        for password in ("wrong one", "wrong two", person.password):
            form = await client.get("/sign-in")
            answer = await client.post(
                "/sign-in",
                data={"csrf_token": csrf_of(form.text), "name": person.name, "password": password},
            )
            statuses.append(answer.status_code)
    assert statuses == [401, 401, 429]
    assert "Too many failed sign-ins: try again in" in answer.text
    assert int(answer.headers["retry-after"]) > 0
