"""Console benchmark: each page's server time with the demo book loaded, against the time of
the API calls it makes, in the same run.

Starts the four services and the console on a scratch database, loads the demo book
(2,000 accounts over 180 days, as ``tenure demo``), then requests each page in turn (as an
approver; finance, integrations and the audit log as an admin, who sees their admin panels
and every source of the log) and reads the console's ``Server-Timing`` header: ``total`` is
the page's server time, ``api`` the time spent waiting on the services (calls made at once
counted once). The console's own cost is ``total - api``; its share is that over
``total``.

    make bench-console
    BENCH_ACCOUNTS=500 BENCH_REQUESTS=20 .venv/bin/python bench/console.py
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import statistics
import sys
from pathlib import Path

import httpx
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import deployed_env
from shared import embedded, migrate
from shared.cli import create_key_at
from shared.demo import Options
from shared.demo_report import run_and_report
from tests.conftest import create_database, drop_database, service_keys, start_platform
from tests.console_support import console_process, make_person, signed_in
from tests.support import ROOT, scratch_database_name, with_database

ACCOUNTS = int(os.environ.get("BENCH_ACCOUNTS", "2000"))
DAYS = int(os.environ.get("BENCH_DAYS", "180"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "50"))
_TIMING = re.compile(r'api;dur=([\d.]+);desc="(\d+) calls", total;dur=([\d.]+)')
TARGET_P95_MS = 250.0


async def pages(client: httpx.AsyncClient, admin: str, offers_url: str) -> dict[str, str]:
    """Each page to time, by name: a representative URL of it on the demo book."""
    headers = {"Authorization": f"Bearer {admin}"}
    async with httpx.AsyncClient(base_url=offers_url, headers=headers) as offers:
        some = (await offers.get("/v1/offers", params={"limit": 1})).json()["items"]
    named = {"inbox": "/inbox"}
    if some:
        named["offer trace"] = f"/offers/{some[0]['id']}"
        named["account"] = f"/accounts/{some[0]['account_id']}"
    named.update(
        {
            "programs": "/programs",
            "program": "/programs/renewal_credit",
            "results": "/results/renewal_credit",
            "accounts": "/accounts",
            "finance": "/finance",
            "scorecard": "/scorecards/mid_market",
            "integrations": "/integrations",
            "audit": "/audit",
        }
    )
    return named


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def time_page(client: httpx.AsyncClient, path: str) -> tuple[list[float], list[float], int]:
    """Server total and API milliseconds of ``REQUESTS`` requests of ``path``, and the
    number of API calls it makes (the status is checked: a page not built is skipped)."""
    totals, apis, calls = [], [], 0
    for _ in range(REQUESTS):
        answer = await client.get(path)
        if answer.status_code != 200:
            raise LookupError(f"{path} answered {answer.status_code}")
        found = _TIMING.fullmatch(answer.headers["server-timing"])
        assert found, answer.headers["server-timing"]
        apis.append(float(found.group(1)))
        calls = int(found.group(2))
        totals.append(float(found.group(3)))
    return totals, apis, calls


async def main() -> None:
    server = (
        os.environ.get("BENCH_DATABASE_URL") or embedded.start(ROOT / ".tenure" / "bench-pgdata")[0]
    )
    name = scratch_database_name()
    await create_database(server, name)
    url = with_database(server, name)
    platform = console = None
    rows: list[str] = []
    try:
        await migrate.upgrade(url)
        _key, admin = await create_key_at(url, "bench-admin", ["admin"])
        keys = await service_keys(url)
        platform = await asyncio.to_thread(start_platform, url, admin, keys)
        service_urls = {
            s: getattr(platform, s).url for s in ("ingest", "scoring", "offers", "ledger")
        }
        console = console_process(url, service_urls)
        console.env.update(deployed_env())
        await asyncio.to_thread(console.start)
        options = Options(ACCOUNTS, DAYS, 7, service_urls, admin)
        await run_and_report(options, Console(file=io.StringIO()))
        approver = await make_person(url, "approver", name="bench-approver")
        finance = await make_person(url, "admin", name="bench-admin-person")
        as_approver = await signed_in(console.url, approver)
        as_admin = await signed_in(console.url, finance)
        try:
            named = await pages(as_approver, admin, platform.offers.url)
            rows.append(
                f"{'page':<12} {'p50 ms':>7} {'p95 ms':>7} {'api p50':>8} {'api p95':>8}"
                f" {'calls':>5} {'own share':>9}"
            )
            for page_name, path in named.items():
                admin_only = page_name in ("finance", "integrations", "audit")
                client = as_admin if admin_only else as_approver
                try:
                    totals, apis, calls = await time_page(client, path)
                except LookupError as exc:
                    rows.append(f"{page_name:<12} not measured: {exc}")
                    continue
                own = [max(t - a, 0.0) / t for t, a in zip(totals, apis, strict=True) if t]
                p95 = percentile(totals, 0.95)
                rows.append(
                    f"{page_name:<12} {statistics.median(totals):>7.1f} {p95:>7.1f}"
                    f" {statistics.median(apis):>8.1f} {percentile(apis, 0.95):>8.1f}"
                    f" {calls:>5} {statistics.median(own):>9.0%}"
                    + ("" if p95 < TARGET_P95_MS else "  over the 250 ms target")
                )
        finally:
            await as_approver.aclose()
            await as_admin.aclose()
    finally:
        if console is not None:
            console.stop()
        if platform is not None:
            for proc in (platform.ingest, platform.scoring, platform.offers, platform.ledger):
                proc.stop()
        await drop_database(server, name)
    print(f"demo book: {ACCOUNTS:,} accounts over {DAYS} days; {REQUESTS} requests a page")
    print("\n".join(rows))
    print("own share: (total - api) / total, median; target p95 < 250 ms, own share < 1/3")


if __name__ == "__main__":
    asyncio.run(main())
