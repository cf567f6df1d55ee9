"""The console in a real browser: the approval story by mouse and by keyboard, the pages'
accessibility (axe-core: no serious or critical violation), and a screenshot of each page in
``.tenure/screenshots`` for a reviewer."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Dialog, Page, expect

from tests.browser.conftest import SCREENSHOTS
from tests.conftest import Platform
from tests.console_support import (
    PendingCredit,
    Person,
    console_without,
    make_person,
    pending_credit,
)
from tests.e2e.test_scoring import busy_account, eventually, snapshot_of
from tests.support import ServiceProcess

AXE = Axe()
XSS = "<script>alert(1)</script>"


async def look(page: Page, name: str) -> None:
    """Check the page with axe-core (no serious or critical violation) and keep its picture."""
    results = await AXE.run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    assert not bad, "\n".join(f"{v['id']} ({v['impact']}): {v['help']}" for v in bad)


def watch_dialogs(page: Page) -> list[str]:
    """The messages of dialogs the page opens (a script that ran would open one)."""
    dialogs: list[str] = []

    async def opened(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", opened)
    return dialogs


async def sign_in(page: Page, console: ServiceProcess, person: Person) -> None:
    await page.goto(f"{console.url}/sign-in")
    await page.get_by_label("Name", exact=True).fill(person.name)
    await page.get_by_label("Password", exact=True).fill(person.password)
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/inbox$"))


async def sign_out(page: Page) -> None:
    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(re.compile(r"/sign-in\?ended=true$"))


async def csrf(page: Page) -> str:
    token = await page.locator('input[name="csrf_token"]').first.get_attribute("value")
    assert token
    return token


async def until(check: Callable[[], Awaitable[bool]], page: Page, within_ms: int = 30_000) -> None:
    """Reload until ``check`` holds (the ledger grants a moment after the approval)."""
    for _ in range(within_ms // 250):
        if await check():
            return
        await page.wait_for_timeout(250)
        await page.reload()
    assert await check()


@pytest.fixture
async def people(platform: Platform) -> dict[str, Person]:
    """A program owner, an approver and a finance approver."""
    return {
        "owner": await make_person(platform.database_url, "product"),
        "approver": await make_person(platform.database_url, "approver"),
        "finance": await make_person(platform.database_url, "finance"),
    }


@pytest.fixture
async def credit(platform: Platform, people: dict[str, Person]) -> PendingCredit:
    """A renewal credit awaiting an approver and finance, for an account named like a script."""
    return await pending_credit(platform, people["owner"], account_name=XSS)


async def test_the_sign_in_page_is_accessible(page: Page, console: ServiceProcess) -> None:
    await page.goto(f"{console.url}/sign-in")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to the Tenure console")
    await look(page, "sign-in")


async def test_an_approver_and_finance_approve_a_renewal_credit_and_its_trace_shows_the_ledger(
    page: Page, console: ServiceProcess, people: dict[str, Person], credit: PendingCredit
) -> None:
    dialogs = watch_dialogs(page)

    # The owner sees why not, no button; a hand-made POST with the owner's session is refused.
    await sign_in(page, console, people["owner"])
    # Waiting on someone else: found in the inbox narrowed to the program.
    await page.goto(f"{console.url}/inbox?program={credit.program_id}")
    card = page.locator(f"#offer-{credit.offer_id}")
    await expect(card).to_contain_text("You cannot approve this")
    await expect(card).to_contain_text("owns the program")
    await expect(card.get_by_role("button", name=re.compile("Approve"))).to_have_count(0)
    forged = await page.request.post(
        f"{console.url}/offers/{credit.offer_id}/decide",
        form={"csrf_token": await csrf(page), "decision": "approve", "comment": "my own"},
    )
    assert forged.status == 403
    assert "owns the program" in await forged.text()
    await sign_out(page)

    await sign_in(page, console, people["approver"])
    await page.goto(f"{console.url}/inbox?program={credit.program_id}")
    card = page.locator(f"#offer-{credit.offer_id}")
    await expect(card).to_contain_text("1,500.00 USD")
    await expect(card).to_contain_text("Finance: still required")
    await look(page, "inbox")
    await card.get_by_label(re.compile("Comment")).fill("renewal at risk")
    await card.get_by_role("button", name="Approve as approver").click()
    await expect(page.get_by_role("status").first).to_contain_text("Approved")
    await sign_out(page)

    await sign_in(page, console, people["finance"])
    await page.goto(f"{console.url}/inbox?program={credit.program_id}")
    card = page.locator(f"#offer-{credit.offer_id}")
    await expect(card).to_contain_text(f"approved by {people['approver'].name}")
    await card.get_by_role("button", name="Approve as finance").click()
    await expect(page.get_by_role("status").first).to_contain_text("Approved")

    await page.goto(f"{console.url}/offers/{credit.offer_id}")

    async def issued() -> bool:
        return await page.locator(".state").inner_text() == "issued"

    await until(issued, page)
    await expect(page.locator(".timeline")).to_contain_text("Ledger: grant")
    await expect(page.locator(".timeline")).to_contain_text(people["finance"].name)
    # The account's name is shown as the text it is, never run.
    await expect(page.locator(".timeline")).to_contain_text(XSS)
    await look(page, "offer-trace")
    assert dialogs == []


async def test_an_approval_can_be_given_with_the_keyboard_alone(
    page: Page, console: ServiceProcess, people: dict[str, Person], credit: PendingCredit
) -> None:
    await page.goto(f"{console.url}/sign-in")
    await page.keyboard.press("Tab")  # the skip link
    for _ in range(10):  # to the name field
        if await page.evaluate("document.activeElement.id") == "name":
            break
        await page.keyboard.press("Tab")
    await page.keyboard.type(people["approver"].name)
    await page.keyboard.press("Tab")
    await page.keyboard.type(people["approver"].password)
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"/inbox$"))
    # The inbox narrowed to the credit's program (others' tests leave a backlog), as a link
    # to it would open it; from there on, keys only.
    await page.goto(f"{console.url}/inbox?program={credit.program_id}")
    comment = f"comment-{credit.offer_id}"
    for _ in range(200):
        if await page.evaluate("document.activeElement.id") == comment:
            break
        await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == comment
    await page.keyboard.type("approved from the keyboard")
    await page.keyboard.press("Tab")
    focused = await page.evaluate("document.activeElement.textContent")
    assert focused.strip() == "Approve as approver"
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status").first).to_contain_text("Approved")
    await page.goto(f"{console.url}/inbox?program={credit.program_id}")
    await expect(page.locator(f"#offer-{credit.offer_id}")).to_contain_text("already approved")


async def test_a_post_without_the_forms_token_is_refused(
    page: Page, console: ServiceProcess, people: dict[str, Person], credit: PendingCredit
) -> None:
    await sign_in(page, console, people["approver"])
    forged = await page.request.post(
        f"{console.url}/offers/{credit.offer_id}/decide",
        form={"decision": "approve", "comment": "forged"},
    )
    assert forged.status == 403
    assert "anti-forgery token" in await forged.text()
    await page.goto(f"{console.url}/inbox?program={credit.program_id}")
    await expect(page.locator(f"#offer-{credit.offer_id}")).to_contain_text(
        "Approver: still required"
    )


@pytest.fixture
async def console_without_offers(platform: Platform) -> AsyncIterator[ServiceProcess]:
    """A console whose offers service is stopped (nothing answers on its port)."""
    async with console_without(platform, "offers") as process:
        yield process


async def test_a_page_renders_with_a_service_stopped_and_says_which(
    page: Page, console_without_offers: ServiceProcess, people: dict[str, Person]
) -> None:
    await sign_in(page, console_without_offers, people["approver"])
    await expect(page.get_by_role("status").first).to_contain_text("offers is not answering")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Approvals waiting on you")
    await look(page, "inbox-offers-down")


@pytest.fixture
async def scored_account(platform: Platform) -> str:
    """An account in use, named like a script, that scoring has scored."""
    async with platform.client("ingest") as ingest, platform.client("scoring") as scoring:
        account_id = await busy_account(ingest, name=XSS)
        await eventually(lambda: snapshot_of(scoring, account_id), lambda s: s is not None)
    return account_id


def pages_of(credit: PendingCredit, account_id: str) -> dict[str, str]:
    """Every page of the console, by the name of its screenshot, at a URL with data."""
    return {
        "inbox-admin": "/inbox",
        "offer": f"/offers/{credit.offer_id}",
        "programs": "/programs",
        "program": f"/programs/{credit.program_id}",
        "program-edit": f"/programs/{credit.program_id}/edit",
        "program-new": "/programs/new",
        "results": "/results",
        "program-results": f"/results/{credit.program_id}",
        "accounts": "/accounts",
        "account": f"/accounts/{account_id}",
        "finance": "/finance",
        "scorecards": "/scorecards",
        "scorecard": "/scorecards/mid_market",
        "integrations": "/integrations",
        "audit": "/audit",
    }


async def test_every_page_is_accessible_and_pictured(
    page: Page,
    console: ServiceProcess,
    platform: Platform,
    credit: PendingCredit,
    scored_account: str,
) -> None:
    dialogs = watch_dialogs(page)
    admin = await make_person(platform.database_url, "admin")
    await sign_in(page, console, admin)
    for name, path in pages_of(credit, scored_account).items():
        answer = await page.goto(f"{console.url}{path}")
        assert answer is not None
        assert answer.status == 200, (path, answer.status)
        await expect(page.get_by_role("heading", level=1)).to_be_visible()
        await look(page, name)
    # The account named like a script is shown as that text, on the list and its page.
    await page.goto(f"{console.url}/accounts?q={scored_account}")
    await expect(page.locator("main")).to_contain_text(XSS)
    await page.goto(f"{console.url}/accounts/{scored_account}")
    await expect(page.get_by_role("heading", level=1)).to_contain_text(XSS)
    assert dialogs == []


async def test_the_editor_shows_a_trigger_error_at_its_position_as_it_is_typed(
    page: Page, console: ServiceProcess, platform: Platform, credit: PendingCredit
) -> None:
    author = await make_person(platform.database_url, "product")
    await sign_in(page, console, author)
    await page.goto(f"{console.url}/programs/{credit.program_id}/edit")
    trigger = page.locator("#f-trigger")
    await trigger.fill("")
    await trigger.press_sequentially("account.health_score >")
    problem = page.locator("#trigger-check")
    await expect(problem).to_contain_text("Line 1, column")
    await expect(problem).to_contain_text("^")
    await look(page, "program-editor-trigger-error")
    await trigger.fill("")
    await trigger.press_sequentially("account.health_score > 50")
    await expect(problem).to_contain_text("Trigger OK")
