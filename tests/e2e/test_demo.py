"""``tenure demo`` on a small book against four real services of its own: what it prints is
what the services' APIs report, and a second run adds no accounts, events or offers."""

from __future__ import annotations

import asyncio
import io
import re
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner

from services.console.repository import get_user
from services.console.service.users import DEMO_PEOPLE, HASHER
from shared.cli import app, create_key_at
from shared.db import standalone_unit_of_work
from shared.demo import HOLD_REASON, Options, Run
from shared.demo_book import ACCOUNT_PREFIX
from shared.demo_client import SERVICES, Api, wait_jobs
from shared.demo_report import Report, money, run_and_report
from tests.conftest import Platform, service_keys, start_platform

SMALL = {"accounts": 60, "days": 60, "seed": 11}


@pytest.fixture
async def own_platform(fresh_database: str) -> AsyncIterator[Platform]:
    """A platform on a database of its own: every account, offer and credit is the demo's,
    so the platform-wide reports can be held to the book."""
    keys = await service_keys(fresh_database)
    _key, admin = await create_key_at(fresh_database, "test-admin", ["admin"])
    running = await asyncio.to_thread(start_platform, fresh_database, admin, keys)
    # As on a platform that has run its daily recompute before the book arrives: the RFM cut
    # points in force are then not the book's (the demo must not decide on those).
    async with running.client("scoring") as scoring:
        job = (await scoring.post("/v1/recompute", json={})).json()
        await wait_jobs(Api(scoring), [job["id"]], within=60)
    yield running
    for proc in (running.ingest, running.scoring, running.offers, running.ledger):
        proc.stop()


def options(platform: Platform) -> Options:
    urls = {s: getattr(platform, s).url for s in SERVICES}
    return Options(**SMALL, urls=urls, admin_key=platform.admin_key, settle_timeout=300)


async def run(platform: Platform) -> tuple[str, Run, Report]:
    """One demo run; what it printed, and what it returned."""
    out = io.StringIO()
    demo_run, report = await run_and_report(options(platform), Console(file=out, width=220))
    return out.getvalue(), demo_run, report


def table(printed: str, title: str, key_cells: int = 1) -> dict[str, dict[str, str]]:
    """A printed table as ``{its first key_cells cells: {column: cell}}``."""
    lines = printed.splitlines()
    start = next(i for i, line in enumerate(lines) if title in line)
    header = next(line for line in lines[start:] if line.startswith("┃"))
    columns = [c.strip() for c in header.strip("┃").split("┃")]
    rows: dict[str, dict[str, str]] = {}
    for line in lines[lines.index(header, start) + 1 :]:
        if line.startswith("└"):
            break
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            rows[" ".join(cells[:key_cells])] = dict(zip(columns, cells, strict=True))
    return rows


async def walk(client: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 500, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(path, params=query)).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


async def platform_counts(platform: Platform) -> dict[str, Any]:
    """What the services hold of the book, asked of their APIs directly."""
    async with (
        platform.client("ingest") as ingest,
        platform.client("scoring") as scoring,
        platform.client("offers") as offers,
        platform.client("ledger") as ledger,
    ):
        accounts = await walk(ingest, "/v1/accounts")
        history = (await ingest.get(f"/v1/accounts/{ACCOUNT_PREFIX}00003/history")).json()
        events = await walk(ingest, "/v1/events", account_id=f"{ACCOUNT_PREFIX}00003")
        summary = (await scoring.get("/v1/segments/summary")).json()
        all_offers = await walk(offers, "/v1/offers")
        liability = (await ledger.get("/v1/reports/liability")).json()
    return {
        "accounts": len(accounts),
        "history": len(history["items"]),
        "events": len(events),
        "colours": {c: g["accounts"] for c, g in summary["by_colour"].items()},
        "segments": {s: g["accounts"] for s, g in summary["by_segment"].items()},
        "offers": Counter(o["state"] for o in all_offers),
        "offer_ids": {o["id"] for o in all_offers},
        "liability": liability["totals"],
    }


def assert_printed_matches(printed: str, counts: dict[str, Any]) -> None:
    scores = table(printed, "Scores by colour and segment")
    printed_colours = {c: int(r["total"]) for c, r in scores.items() if c != "total"}
    assert printed_colours == {c: n for c, n in counts["colours"].items() if n}
    printed_segments = {
        s: int(n) for s, n in scores["total"].items() if s not in ("colour", "total")
    }
    assert printed_segments == {s: n for s, n in counts["segments"].items() if n}
    assert int(scores["total"]["total"]) == counts["accounts"] == SMALL["accounts"]

    offers = table(printed, "Offers by program and state")
    printed_states = {
        s: int(n) for s, n in offers["total"].items() if s not in ("program", "total")
    }
    assert printed_states == dict(counts["offers"])
    assert int(offers["total"]["total"]) == len(counts["offer_ids"])

    liability = table(printed, "Ledger liability", key_cells=2)
    for unit, amount in counts["liability"].items():
        assert liability[f"{unit} total"]["outstanding"] == money(amount)


async def test_the_demo_prints_what_the_apis_report_and_a_second_run_adds_nothing(
    own_platform: Platform,
) -> None:
    printed, first_run, report = await run(own_platform)
    after_first = await platform_counts(own_platform)
    assert_printed_matches(printed, after_first)
    # The book reached every part of the story.
    assert first_run.sent["events_accepted"] == first_run.sent["events"] > 0
    assert after_first["history"] >= 1
    assert sum(report.offers.values()) > 0
    assert first_run.sent["approvals"] > 0
    assert re.search(r"Phases \(book to \d{4}-\d{2}-\d{2}\)", printed)

    # As if a run had stopped while its book loaded, leaving a program held: the next run
    # puts it back.
    async with own_platform.client("offers") as offers:
        held = {"status": "paused", "reason": HOLD_REASON}
        answer = await offers.post("/v1/programs/activation_pass/status", json=held)
        assert answer.status_code == 200, answer.text

    # The second run through the command itself, as a newcomer types it.
    urls = [arg for s in SERVICES for arg in (f"--{s}-url", getattr(own_platform, s).url)]
    size = [arg for k, v in SMALL.items() for arg in (f"--{k}", str(v))]
    command = ["demo", *size, *urls, "--admin-key", own_platform.admin_key]
    # typer runs the demo with asyncio.run, so off this test's event loop; wide enough that
    # rich does not wrap the tables.
    env = {"COLUMNS": "220", "TENURE_DATABASE_URL": own_platform.database_url}
    result = await asyncio.to_thread(
        CliRunner().invoke, app, command, env=env, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    printed = result.stdout
    after_second = await platform_counts(own_platform)
    assert_printed_matches(printed, after_second)
    sent = {k: int(v) for k, v in re.findall(r"(\w+) (\d+)", printed.split("Sent: ")[1])}
    # The same book again: every event a duplicate, no account, fact change, offer, approval,
    # redemption or credit added. What a re-run may add: decisions (offers decides every
    # program again and keeps each decision; the limits answer "cooldown"), scoring's history
    # rows for the same days (rewritten, not added), recompute jobs, and fresh demo keys (the
    # old ones revoked).
    assert sent["events_accepted"] == 0
    assert sent["events_duplicates"] == first_run.sent["events"]
    for same in ("accounts", "history", "events", "offer_ids", "offers", "liability"):
        assert after_second[same] == after_first[same], same
    assert (sent["offers_proposed"], sent["approvals"], sent["redemptions"]) == (0, 0, 0)
    async with own_platform.client("offers") as offers:
        programs = await walk(offers, "/v1/programs")
    assert {p["status"] for p in programs} == {"active"}
    await assert_demo_people_sign_in(printed, own_platform.database_url)


async def assert_demo_people_sign_in(printed: str, database_url: str) -> None:
    """The demo printed a person for each part of the workflow, whose password is theirs."""
    people = table(printed, "Console people")
    assert set(people) == set(DEMO_PEOPLE)
    async with standalone_unit_of_work(database_url) as session:
        for name, row in people.items():
            user = await get_user(session, name)
            assert user is not None
            assert HASHER.verify(user.password_hash, row["password"])
            assert ", ".join(user.roles) == row["roles"]
    assert "sign in as demo-approver" in printed


def test_the_command_says_how_to_start_the_platform_when_none_answers() -> None:
    nowhere = [arg for s in SERVICES for arg in (f"--{s}-url", "http://127.0.0.1:9")]
    result = CliRunner().invoke(app, ["demo", "--admin-key", "tnr_x", *nowhere])
    assert result.exit_code == 1
    assert "make up" in result.output
