"""The results pages over HTTP on real processes: every program listed with a link, a
program's counts and rates as the offers API returns them with the interval's bar and its
text alternative, the notice of a group too small, and the sample ratio mismatch warning.

Decisions are made by delivering snapshots to offers as scoring does; renewal outcomes come
from ingest's account history, and (as in test_offers_results) the decisions are moved 60
days into the past, the one step no API can take."""

from __future__ import annotations

import html as markup
import re
import uuid
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from tests.conftest import Platform
from tests.console_support import make_person, signed_in
from tests.e2e.test_offers_decisions import credit_program, live_program
from tests.e2e.test_offers_results import backdate_decisions, change, load, renewal_ago
from tests.e2e.test_scoring import eventually
from tests.offers_support import delivery, held_out_account, snapshot, treated_account
from tests.support import ServiceProcess

HALF = Decimal(50)


def flat(page: str) -> str:
    """The page with its whitespace runs made one space (markup kept)."""
    return re.sub(r"\s+", " ", page)


def row(page: str, row_id: str) -> str:
    found = re.search(rf'<tr id="{row_id}">(.*?)</tr>', flat(page))
    assert found, f"no row {row_id}"
    return found.group(1)


def cells(html_row: str) -> list[str]:
    """A row's cells as text."""
    found = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", html_row)
    return [" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in found]


def pct(value: float) -> str:
    return f"{value * 100:.1f} %"


def pts(value: float) -> str:
    return f"{value * 100:+.1f} points"


async def listing(client: httpx.AsyncClient) -> str:
    """Every page of the results list, following its "Next programs" links."""
    pages, path = [], "/results"
    while True:
        answer = await client.get(path)
        assert answer.status_code == 200, answer.text
        pages.append(answer.text)
        found = re.search(r'<a href="(/results\?cursor=[^"]+)">Next programs</a>', answer.text)
        if not found:
            return "".join(pages)
        path = markup.unescape(found.group(1))


async def results_of(platform: Platform, program_id: str) -> dict[str, Any]:
    async with platform.client("offers") as offers:
        answer = await offers.get(f"/v1/programs/{program_id}/results")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def deliver(platform: Platform, accounts: list[str], name: str) -> None:
    async with platform.client("offers") as offers:
        sent = delivery(*(snapshot(a, name=name) for a in accounts))
        assert (await offers.post("/v1/notifications", json=sent)).status_code == 200


async def test_a_programs_page_shows_the_counts_and_rates_the_offers_api_returns(
    platform: Platform, console: ServiceProcess
) -> None:
    name = f"cres-{uuid.uuid4().hex[:8]}"
    definition = credit_program(
        name, holdout_percent=50, approval={"auto_approve_up_to_minor": 10_000}
    )
    program_id = await live_program(platform, definition)
    treated = [treated_account(program_id, "cres-t", HALF) for _ in range(4)]
    held = [held_out_account(program_id, "cres-h", HALF) for _ in range(4)]
    async with platform.client("ingest") as ingest:
        for account_id in [*treated, *held]:
            await load(ingest, account_id, renewal_ago(30))
        await change(ingest, treated[1], 28, mrr_minor=150_000)  # expanded
        await change(ingest, treated[2], 29, status="cancelled")  # churned
        await change(ingest, held[0], 29, status="cancelled")  # churned
        await change(ingest, held[1], 27, status="cancelled")  # churned
    await deliver(platform, [*treated, *held], name)
    await backdate_decisions(platform.database_url, program_id, 60)
    async with platform.client("ledger") as ledger:

        async def granted() -> Any:
            report = await ledger.get("/v1/reports/grants", params={"program_id": program_id})
            return report.json()["totals"]

        await eventually(granted, lambda totals: totals == {"USD": 4 * 1_000})

    results = await results_of(platform, program_id)
    t, h = results["treated"], results["holdout"]
    viewer = await make_person(platform.database_url, "viewer")
    async with aclosing(await signed_in(console.url, viewer)) as client:
        listed = await listing(client)
        page = await client.get(f"/results/{program_id}")
    assert f'<a href="/results/{program_id}">Test {name}</a>' in listed
    assert page.status_code == 200, page.text
    text = flat(page.text)
    assert f"<h1>Results: Test {name}</h1>" in text

    # The counts under each rate are the API's.
    for group_name, group in (("treated", t), ("holdout", h)):
        shown = cells(row(page.text, f"group-{group_name}"))
        renewing = group["final_outcomes"] - group["outcomes"]["churned"]
        assert shown == [
            group_name,
            str(group["accounts"]),
            str(group["final_outcomes"]),
            str(group["outcomes"]["renewed"]),
            str(group["outcomes"]["expanded"]),
            str(group["outcomes"]["contracted"]),
            str(group["outcomes"]["churned"]),
            str(group["pending"]),
            str(group["no_outcome"]),
            f"{pct(group['renewal_rate'])} {renewing} of {group['final_outcomes']} renewed",
            f"{pct(group['rate_interval']['lower'])} to {pct(group['rate_interval']['upper'])}",
        ]
    assert (t["final_outcomes"], t["outcomes"]["churned"]) == (4, 1)
    assert "75.0 % 3 of 4 renewed" in " ".join(cells(row(page.text, "group-treated")))
    assert "50.0 % 2 of 4 renewed" in " ".join(cells(row(page.text, "group-holdout")))

    # The interval's bar and its text alternative, with the numbers in text.
    low, high = results["interval"]["lower"], results["interval"]["upper"]
    alternative = (
        f"Renewal rate of treated minus held-out accounts: {pts(results['difference'])}, 95%"
        f" interval {pts(low)} to {pts(high)}; the interval includes zero: no clear difference."
    )
    assert f'role="img" aria-label="{markup.escape(alternative)}"' in text
    assert f"<title>{markup.escape(alternative)}</title>" in text
    assert "Bar colour: black" in text
    assert f"<dd>{pts(low)} to {pts(high)}</dd>" in text

    # Four outcomes a group: not enough data, and NRR and costs as the API has them.
    assert "Not enough data yet." in text
    assert "the treated group has 4 final outcomes (3 renewing, 1 churned)" in text
    assert f"<td>{pct(t['retention']['nrr'])}</td>" in text
    assert "<td>40.00 USD</td>" in text  # 4 credits of 10.00 granted
    assert "results-srm" not in text  # 4 against 4: too few to test, said so
    assert "too few accounts to test the split" in text


async def test_a_new_program_says_there_is_not_enough_data(
    platform: Platform, console: ServiceProcess
) -> None:
    program_id = await live_program(platform, credit_program(f"cnew-{uuid.uuid4().hex[:8]}"))
    results = await results_of(platform, program_id)
    assert results["treated"]["accounts"] == 0
    viewer = await make_person(platform.database_url, "viewer")
    async with aclosing(await signed_in(console.url, viewer)) as client:
        page = await client.get(f"/results/{program_id}")
        unknown = await client.get("/results/no-such-program")
        bad_day = await client.get(f"/results/{program_id}", params={"from": "yesterday"})
        backwards = await client.get(
            f"/results/{program_id}",
            params={
                "from": datetime.now(UTC).date().isoformat(),
                "to": (datetime.now(UTC).date() - timedelta(days=3)).isoformat(),
            },
        )
    assert page.status_code == 200, page.text
    text = flat(page.text)
    assert "Not enough data yet." in text
    assert "the treated group has 0 final outcomes (0 renewing, 0 churned)" in text
    assert "No difference yet: a group has no final renewal outcome in the window." in text
    assert "0 of 0 accounts held out" in text
    assert unknown.status_code == 404
    assert "No program has the id" in unknown.text
    assert bad_day.status_code == 422
    assert "Traceback" not in bad_day.text
    assert backwards.status_code == 422
    assert "The results not shown" in backwards.text


async def test_a_split_far_from_its_holdout_percent_is_warned_of(
    platform: Platform, console: ServiceProcess
) -> None:
    name = f"csrm-{uuid.uuid4().hex[:8]}"
    program_id = await live_program(platform, credit_program(name, holdout_percent=50))
    # 2 offered and 20 held out where 11 and 11 were expected.
    accounts = [treated_account(program_id, "csrm-t", HALF) for _ in range(2)]
    accounts += [held_out_account(program_id, "csrm-h", HALF) for _ in range(20)]
    await deliver(platform, accounts, name)
    split = (await results_of(platform, program_id))["sample_ratio"]
    assert split["mismatch"] is True
    viewer = await make_person(platform.database_url, "viewer")
    async with aclosing(await signed_in(console.url, viewer)) as client:
        page = await client.get(f"/results/{program_id}")
    assert page.status_code == 200, page.text
    text = flat(page.text)
    warning = re.search(r'<div class="notice results-srm" role="alert">(.*?)</div>', text)
    assert warning, "no sample ratio warning"
    said = warning.group(1)
    assert "Sample ratio mismatch: 20 of 22 accounts held out (90.9 %; target 50.0 %)" in said
    assert f"chi-square {split['chi_square']:.2f}" in said
    assert f"p = {split['p_value']:.2g}" in said


async def test_the_results_pages_need_a_session(console: ServiceProcess) -> None:
    async with httpx.AsyncClient(base_url=console.url) as client:
        away = await client.get("/results/renewal_credit")
    assert away.status_code == 303
    assert away.headers["location"] == "/sign-in?next=%2Fresults%2Frenewal_credit"
