"""The finance page over HTTP on real processes: its figures are the ledger API's, each CSV
download has its table's rows, and the ledger's audit is shown to an admin and explained to
anyone else. Credit is granted, redeemed and left to expire through the ledger's API."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import uuid
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from datetime import UTC, datetime
from typing import Any

import httpx

from services.console.domain.formatting import money
from tests.conftest import Platform
from tests.console_support import make_person, signed_in
from tests.e2e.test_console_results import cells, flat
from tests.e2e.test_ledger import grant, redeem
from tests.support import ServiceProcess

TABLES = ("liability-by-program", "liability-by-tier", "liability-by-age", "expiring", "monthly")


async def seed(ledger: httpx.AsyncClient) -> tuple[str, str]:
    """A program of its own with credit granted at two tiers, part redeemed, and a lot left
    to expire into breakage; its id and its tier of its own."""
    program = f"fin-{uuid.uuid4().hex[:8]}"
    tier = f"tier{uuid.uuid4().hex[:6]}"
    account = f"fin-acct-{uuid.uuid4().hex[:8]}"
    await grant(ledger, account, 12_345, days=20, program_id=program, tier=tier)
    await grant(ledger, account, 5_000, days=75, program_id=program, tier="gold")
    short = await grant(ledger, account, 400, days=1 / 86400, program_id=program, tier=tier)
    expires = datetime.fromisoformat(short["lot"]["expires_at"])
    await asyncio.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.05)
    assert (await ledger.post("/v1/expirations/run", json={})).status_code == 200
    # After the sweep: taken from the lot that expires first of those left (the 20-day one).
    assert (await redeem(ledger, account, 1_000)).status_code == 200
    return program, tier


def table_rows(page: str, table_id: str) -> list[list[str]]:
    """The body rows of a table on the page, as the text of their cells."""
    found = re.search(rf'<table [^>]*id="{table_id}".*?<tbody>(.*?)</tbody>', flat(page))
    assert found, f"no table {table_id}"
    return [cells(r) for r in re.findall(r"<tr>(.*?)</tr>", found.group(1))]


async def steady(
    read_api: Callable[[], Awaitable[Any]], read_console: Callable[[], Awaitable[Any]]
) -> tuple[Any, Any]:
    """The API's answer and the console's, read between two equal answers of the API (other
    tests' credit may land meanwhile: then read again)."""
    for _ in range(10):
        before = await read_api()
        seen = await read_console()
        if _same(await read_api(), before):
            return before, seen
    raise AssertionError("the ledger never held still")


def _same(one: Any, other: Any) -> bool:
    """Two answers are the same: a response by its body, anything else by its value."""
    if isinstance(one, httpx.Response) and isinstance(other, httpx.Response):
        return one.content == other.content
    return bool(one == other)


async def reports(ledger: httpx.AsyncClient) -> dict[str, Any]:
    names = ("liability", "expiring", "grants", "redemptions", "breakage")
    answers = await asyncio.gather(*(ledger.get(f"/v1/reports/{n}") for n in names))
    return {n: a.json() for n, a in zip(names, answers, strict=True)}


async def test_the_finance_page_shows_the_ledgers_figures(
    platform: Platform, console: ServiceProcess, ledger: httpx.AsyncClient
) -> None:
    program, tier = await seed(ledger)
    viewer = await make_person(platform.database_url, "viewer")
    async with aclosing(await signed_in(console.url, viewer)) as client:

        async def finance() -> httpx.Response:
            return await client.get("/finance")

        api, page = await steady(lambda: reports(ledger), finance)
    assert page.status_code == 200, page.text
    text = flat(page.text)
    assert "<h1>Finance</h1>" in text

    for unit, total in api["liability"]["totals"].items():
        assert f"<dd>{money(total, unit)}</dd>" in text
    mine = [r for r in api["liability"]["rows"] if r["program_id"] == program]
    assert sum(r["amount"] for r in mine) == 12_345 + 5_000 - 1_000  # expired lot swept
    assert ["USD", program, money(16_345, "USD")] in table_rows(page.text, "liability-by-program")
    own_tier = sum(r["amount"] for r in api["liability"]["rows"] if r["tier"] == tier)
    assert own_tier == 12_345 - 1_000  # the redemption took from the lot expiring first
    assert ["USD", tier, money(own_tier, "USD")] in table_rows(page.text, "liability-by-tier")
    by_age = {r[1]: r[2] for r in table_rows(page.text, "liability-by-age") if r[0] == "USD"}
    usd_ages: dict[str, int] = {}
    for r in api["liability"]["rows"]:
        if r["unit"] == "USD":
            usd_ages[r["age"]] = usd_ages.get(r["age"], 0) + r["amount"]
    assert by_age == {age: money(amount, "USD") for age, amount in usd_ages.items()}
    ages = ("0-29", "30-59", "60-89", "90+")
    assert list(by_age) == [a for a in ages if a in usd_ages]  # youngest first

    expiring = {r["unit"]: r for r in api["expiring"]}
    usd = expiring["USD"]
    assert ["USD", *(money(usd[f"within_{d}_days"], "USD") for d in (30, 60, 90))] in (
        table_rows(page.text, "expiring")
    )

    month = datetime.now(UTC).strftime("%Y-%m")

    def of_month(report: str) -> int:
        return sum(
            r["amount"] for r in api[report]["rows"] if r["month"] == month and r["unit"] == "USD"
        )

    figures = [money(of_month(n), "USD") for n in ("grants", "redemptions", "breakage")]
    assert ["USD", month, *figures] in table_rows(page.text, "monthly")
    assert of_month("breakage") >= 400
    # The bars' text alternative gives the month's figure.
    redeemed = money(of_month("redemptions"), "USD")
    assert re.search(rf'aria-label="Redeemed by month, USD, [^"]*{month}: {redeemed}\."', text)


async def test_each_csv_download_has_its_tables_rows(
    platform: Platform, console: ServiceProcess, ledger: httpx.AsyncClient
) -> None:
    program, _tier = await seed(ledger)
    viewer = await make_person(platform.database_url, "viewer")
    async with aclosing(await signed_in(console.url, viewer)) as client:
        for table in TABLES:

            async def download(table: str = table) -> httpx.Response:
                return await client.get(f"/finance/{table}.csv")

            async def page() -> httpx.Response:
                return await client.get("/finance")

            # The page read between two equal downloads.
            csv_answer, shown = await steady(download, page)
            assert csv_answer.status_code == 200, csv_answer.text
            assert csv_answer.headers["content-type"].startswith("text/csv")
            assert f"tenure-{table}-" in csv_answer.headers["content-disposition"]
            header, *rows = list(csv.reader(io.StringIO(csv_answer.text)))
            shown_rows = table_rows(shown.text, table)
            assert len(rows) == len(shown_rows), table
            for row, shown_row in zip(rows, shown_rows, strict=True):
                unit = row[0]
                amounts = row[1:] if table == "expiring" else row[2:]
                keys = [unit] if table == "expiring" else [unit, row[1]]
                assert shown_row == [*keys, *(money(int(a), unit) for a in amounts)], table
            if table == "liability-by-program":
                assert header == ["unit", "program_id", "outstanding_minor"]
                assert ["USD", program, "16345"] in rows
        unknown = await client.get("/finance/nothing.csv")
    assert unknown.status_code == 422
    assert "Traceback" not in unknown.text


async def test_the_audit_is_shown_to_an_admin_and_explained_to_a_viewer(
    platform: Platform, console: ServiceProcess, ledger: httpx.AsyncClient
) -> None:
    await seed(ledger)
    admin = await make_person(platform.database_url, "admin")
    viewer = await make_person(platform.database_url, "viewer")
    async with aclosing(await signed_in(console.url, admin)) as as_admin:
        page = await as_admin.get("/finance")
        audit = await as_admin.get("/finance/audit")
    verified = (await ledger.get("/v1/audit/verify")).json()
    # The finance page loads the audit into itself (htmx), with a plain link without script.
    assert 'hx-get="/finance/audit"' in page.text
    assert '<a href="/finance/audit">' in page.text
    assert audit.status_code == 200, audit.text
    said = flat(audit.text)
    if verified["ok"]:
        assert "<strong>Verified:</strong> the ledger adds up." in said
        assert re.search(r"\d+ transactions checked in \d+ chains; no break", said)
    else:
        assert "The ledger does not verify." in said
        assert verified["first_break"]["reason"] in said

    async with aclosing(await signed_in(console.url, viewer)) as as_viewer:
        page = await as_viewer.get("/finance")
        refused = await as_viewer.get("/finance/audit")
    assert page.status_code == 200
    text = flat(page.text)
    assert 'hx-get="/finance/audit"' not in text
    assert "You cannot run the ledger's audit" in markup_text(text)
    assert "only a person with the admin role may run it" in text
    assert refused.status_code == 403
    assert "only a person with the admin role may run it" in flat(refused.text)


def markup_text(html: str) -> str:
    """The page's text with its markup and the escaping of quotes undone."""
    return re.sub(r"<[^>]+>", "", html).replace("&#39;", "'")
