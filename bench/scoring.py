"""Scoring benchmark: a full recompute of 100,000 accounts with 90 days of rollups.

Loads ingest's tables directly (100,000 accounts; 90 daily rollups each, 9 million rows;
distinct active users and features for the last 30 days), written day by day with the accounts
in no particular order, as intake writes them (an account's days sit on as many table pages as
it has days), then starts real ingest and scoring
processes, and times, in the same run and on the same server:

- the bare SQL floor: one statement of window aggregates over all the rollups;
- the reads alone: every page of ``POST /v1/signals/windows`` from ingest over HTTP;
- the pure scoring functions alone, over the aggregates those reads returned;
- the full recompute end to end: ``POST /v1/recompute`` until its job has succeeded, every
  snapshot and history row written (and, as the first ever, every account announced);
- a second full recompute, in which nothing changed.

    make bench-scoring
    BENCH_ACCOUNTS=20000 .venv/bin/python bench/scoring.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import deployed_env
from services.scoring.domain.rfm import RfmBreakpoints, breakpoints
from services.scoring.domain.scorecards import DEFAULT_SCORECARDS
from services.scoring.domain.snapshot import build_snapshot, rfm_inputs
from shared import embedded, migrate
from shared.cli import create_key_at
from shared.contracts import AccountWindows, WindowsPage
from tests.conftest import create_database, drop_database, service_keys
from tests.support import ROOT, ServiceProcess, free_port, scratch_database_name, with_database

ACCOUNTS = int(os.environ.get("BENCH_ACCOUNTS", "100000"))
DAYS = 90
PAGE = 1000

_LOAD = [
    """
    INSERT INTO ingest.accounts (external_id, name, motion_segment, billing_period, mrr_minor,
        currency, seats_purchased, contract_start, renewal_date, status, champion_user_id)
    SELECT 'acct-' || lpad(i::text, 7, '0'), 'Account ' || i,
        (ARRAY['smb', 'mid_market', 'enterprise'])[1 + i % 3],
        (ARRAY['monthly', 'annual'])[1 + i % 2], 5000 + (i % 500) * 100, 'USD',
        5 + i % 150, current_date - 200 - i % 300, current_date + i % 365,
        'active', 'u0'
    FROM generate_series(1, $1) AS i
    """,
    """
    INSERT INTO ingest.daily_rollups (account_id, day, events, active_users, logins,
        key_actions, core_features, integrations, api_calls, exports, tickets_opened,
        payment_failures, invoices_paid)
    SELECT 'acct-' || lpad(i::text, 7, '0'), current_date - d, 20 + (i + d) % 40,
        1 + (i + d) % 5, 2 + (i * d) % 7, (i + d) % 9, 1 + (i + d) % 3,
        CASE WHEN d = 80 THEN 1 ELSE 0 END, (i * d) % 11, d % 3,
        CASE WHEN (i + d) % 97 = 0 THEN 1 ELSE 0 END,
        CASE WHEN (i + d) % 211 = 0 THEN 1 ELSE 0 END,
        CASE WHEN d % 30 = 0 THEN 1 ELSE 0 END
    FROM generate_series(1, $1) AS i, generate_series(0, $2 - 1) AS d
    ORDER BY d DESC, md5(i::text)
    """,
    """
    INSERT INTO ingest.daily_active_users (account_id, day, user_id)
    SELECT 'acct-' || lpad(i::text, 7, '0'), current_date - d, 'u' || ((i + d + k) % 12)
    FROM generate_series(1, $1) AS i, generate_series(0, 29) AS d, generate_series(0, 1) AS k
    ORDER BY d DESC, md5(i::text)
    """,
    """
    INSERT INTO ingest.daily_features (account_id, day, feature)
    SELECT 'acct-' || lpad(i::text, 7, '0'), current_date - d,
        (ARRAY['reports', 'dashboards', 'automation', 'alerts'])[1 + (i + d) % 4]
    FROM generate_series(1, $1) AS i, generate_series(0, 29) AS d
    ORDER BY d DESC, md5(i::text)
    """,
]

# The floor: the window sums, distinct counts and last-seen days in one statement.
_BARE_AGGREGATE = """
    SELECT r.account_id,
        sum(r.logins) FILTER (WHERE r.day > current_date - 30),
        sum(r.key_actions) FILTER (WHERE r.day > current_date - 30),
        sum(r.key_actions) FILTER (WHERE r.day > current_date - 60),
        sum(r.integrations), max(r.day) FILTER (WHERE r.logins > 0),
        sum(r.tickets_opened) FILTER (WHERE r.day > current_date - 30),
        sum(r.payment_failures) FILTER (WHERE r.day > current_date - 60)
    FROM ingest.daily_rollups AS r GROUP BY r.account_id
"""


async def load(dsn: str) -> float:
    """Fill ingest's tables; seconds taken."""
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        for statement in _LOAD:
            args = (ACCOUNTS, DAYS) if "$2" in statement else (ACCOUNTS,)
            await conn.execute(statement, *args)
        # As autovacuum leaves a table that has settled (visibility map set, statistics).
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return time.perf_counter() - started


async def bare_sql(dsn: str) -> float:
    """Seconds of the floor statement."""
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        rows = await conn.fetch(_BARE_AGGREGATE)
        seconds = time.perf_counter() - started
        assert len(rows) == ACCOUNTS
        return seconds
    finally:
        await conn.close()


async def read_all(client: httpx.AsyncClient) -> tuple[float, list[AccountWindows]]:
    """Every account's aggregates, a page at a time, as scoring reads them."""
    out: list[AccountWindows] = []
    after: str | None = None
    started = time.perf_counter()
    while True:
        body: dict[str, Any] = {"limit": PAGE, **({"after": after} if after else {})}
        response = await client.post("/v1/signals/windows", json=body)
        response.raise_for_status()
        page = WindowsPage.model_validate_json(response.content)
        out.extend(page.accounts)
        if page.next_after is None:
            return time.perf_counter() - started, out
        after = page.next_after


def score_all(windows: list[AccountWindows]) -> float:
    """Seconds of the pure rules over every account (cuts taken from the same population)."""
    now = datetime.now(UTC)
    started = time.perf_counter()
    cuts: RfmBreakpoints = breakpoints(rfm_inputs(w) for w in windows)
    for w in windows:
        assert w.account is not None
        card = DEFAULT_SCORECARDS[w.account.motion_segment]
        snapshot = build_snapshot(
            w, card, cuts, previous_milestones={}, history={}, override=None, now=now
        )
        assert snapshot is not None
        snapshot.model_dump_json()  # as written: the document is stored as JSON
    return time.perf_counter() - started


async def full_recompute(client: httpx.AsyncClient) -> tuple[float, dict[str, Any]]:
    """Seconds from queuing a full recompute to its job's success."""
    started = time.perf_counter()
    job = (await client.post("/v1/recompute", json={})).json()
    while True:
        state = (await client.get(f"/v1/jobs/{job['id']}")).json()
        if state["status"] == "succeeded":
            return time.perf_counter() - started, state
        await asyncio.sleep(0.2)


async def wait_idle(dsn: str) -> None:
    """Until no job is open (the first recompute queues a second pass for the RFM cuts)."""
    conn = await asyncpg.connect(dsn)
    try:
        open_jobs = "SELECT count(*) FROM scoring.jobs WHERE finished_at IS NULL"
        while await conn.fetchval(open_jobs):  # noqa: ASYNC110 - another process's state
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


async def counts(dsn: str) -> tuple[int, int, int]:
    """Snapshots, history rows and outbox messages stored."""
    conn = await asyncpg.connect(dsn)
    try:
        return (
            await conn.fetchval("SELECT count(*) FROM scoring.snapshots"),
            await conn.fetchval("SELECT count(*) FROM scoring.score_history"),
            await conn.fetchval("SELECT count(*) FROM scoring.outbox"),
        )
    finally:
        await conn.close()


async def main() -> None:
    server = (
        os.environ.get("BENCH_DATABASE_URL") or embedded.start(ROOT / ".tenure" / "bench-pgdata")[0]
    )
    name = scratch_database_name()
    await create_database(server, name)
    url = with_database(server, name)
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    procs: list[ServiceProcess] = []
    try:
        await migrate.upgrade(url)
        load_seconds = await load(dsn)
        _key, admin = await create_key_at(url, "bench", ["admin"])
        keys = await service_keys(url)
        ingest = ServiceProcess(
            "ingest", url, env=deployed_env(TENURE_SERVICE_API_KEY=keys["ingest"])
        )
        scoring = ServiceProcess(
            "scoring",
            url,
            env=deployed_env(
                TENURE_SERVICE_API_KEY=keys["scoring"],
                TENURE_INGEST_URL=ingest.url,
                # Offers is not running: its messages wait in scoring's outbox, as in an
                # outage; the daily job would race the measured one.
                TENURE_OFFERS_URL=f"http://127.0.0.1:{free_port()}",
                TENURE_DAILY_RECOMPUTE_AT="",
            ),
        )
        procs = [ingest, scoring]
        for proc in procs:
            await asyncio.to_thread(proc.start)
        headers = {"Authorization": f"Bearer {admin}"}
        async with (
            httpx.AsyncClient(base_url=ingest.url, headers=headers, timeout=120) as ingest_client,
            httpx.AsyncClient(base_url=scoring.url, headers=headers, timeout=60) as scoring_client,
        ):
            sql_seconds = await bare_sql(dsn)
            read_seconds, windows = await read_all(ingest_client)
            pure_seconds = score_all(windows)
            del windows
            first_seconds, first = await full_recompute(scoring_client)
            stored = await counts(dsn)
            await wait_idle(dsn)
            second_seconds, second = await full_recompute(scoring_client)
    finally:
        for proc in procs:
            proc.stop()
        await drop_database(server, name)

    rate = ACCOUNTS / first_seconds
    lines = [
        f"accounts:                   {ACCOUNTS:,} x {DAYS} days (loaded in {load_seconds:.0f} s)",
        f"bare SQL aggregate (floor): {sql_seconds:.1f} s",
        f"reads from ingest alone:    {read_seconds:.1f} s ({ACCOUNTS / read_seconds:,.0f}/s)",
        f"pure scoring alone:         {pure_seconds:.1f} s ({ACCOUNTS / pure_seconds:,.0f}/s)",
        f"full recompute, first:      {first_seconds:.1f} s ({rate:,.0f} accounts/s; "
        f"{first['scored']:,} scored, {first['changed']:,} announced)  target < 30 s",
        f"full recompute, unchanged:  {second_seconds:.1f} s "
        f"({ACCOUNTS / second_seconds:,.0f}/s; {second['changed']:,} announced)",
        f"stored after the first:     {stored[0]:,} snapshots, {stored[1]:,} history rows, "
        f"{stored[2]:,} messages",
        f"ratio recompute / bare SQL: {first_seconds / sql_seconds:.1f}",
        f"ratio recompute / (reads + pure): {first_seconds / (read_seconds + pure_seconds):.2f}",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
