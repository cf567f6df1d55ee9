"""Offers benchmark: the eight default programs decided over 100,000 snapshots.

Loads offers' kept snapshots directly (100,000 accounts of mixed tiers, segments, plans,
renewal dates, seat use, milestones), starts a real offers process (which creates the
default programs), and times, in the same run and on the same server:

- the floor of rule evaluation: the same eight compiled CEL triggers over the same
  snapshots in this process, building each account's context once (of the fields they read);
- the floor of recording: COPY of as many decision rows into a table without indexes;
- end to end: ``POST /v1/evaluate`` over every account, every decision recorded (and the
  offers that pass their limits and budgets proposed: the first run, as when the defaults
  first meet a book, makes an offer for about one pair in seven);
- the same again, when the offers just made hold every account in its cooldown.

    make bench-offers
    BENCH_ACCOUNTS=20000 .venv/bin/python bench/offers.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import deployed_env
from services.offers.domain.defaults import DEFAULT_PROGRAMS
from services.offers.domain.triggers import account_context, compile_trigger, evaluate
from shared import embedded, migrate
from shared.cli import create_key_at
from tests.conftest import create_database, drop_database, service_keys
from tests.offers_support import snapshot
from tests.support import ROOT, ServiceProcess, free_port, scratch_database_name, with_database

ACCOUNTS = int(os.environ.get("BENCH_ACCOUNTS", "100000"))
_TIERS = ("silver", "gold", "platinum")
_SEGMENTS = ("steady", "power_user", "expansion_ready", "at_risk", "hibernating", "steady")


def book(now: datetime) -> list[dict[str, Any]]:
    """The snapshots: a spread of accounts, a few of which each program's trigger matches."""
    out = []
    for i in range(ACCOUNTS):
        days_to_renewal = i % 365
        out.append(
            snapshot(
                f"acct-{i:07d}",
                now,
                tier=_TIERS[i % 3],
                segment=_SEGMENTS[i % 6],
                billing_period="monthly" if i % 2 else "annual",
                paid_months=i % 12,
                seat_utilization=(i % 100) / 100,
                days_to_renewal=days_to_renewal,
                renewal_window=60 if days_to_renewal <= 60 else None,
                cancel_intent=i % 97 == 0,
                milestones={"onboarding_complete": now.date().isoformat()} if i % 5 == 0 else {},
                arr_minor=1_200_000 + (i % 500) * 10_000,
            )
        )
    return out


async def load(dsn: str, snapshots: list[dict[str, Any]]) -> float:
    """COPY the snapshots into offers' table; seconds taken."""
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table(
            "account_snapshots",
            schema_name="offers",
            columns=("account_id", "computed_at", "snapshot", "changes", "message_id"),
            records=[
                (
                    s["account_id"],
                    datetime.fromisoformat(s["computed_at"]),
                    orjson.dumps(s).decode(),
                    ["created"],
                    uuid.UUID(int=n + 1),
                )
                for n, s in enumerate(snapshots)
            ],
        )
        await conn.execute("VACUUM ANALYZE offers.account_snapshots")
    finally:
        await conn.close()
    return time.perf_counter() - started


def bare_cel(snapshots: list[dict[str, Any]]) -> tuple[float, int]:
    """Seconds of the eight triggers over every snapshot, and how many matched."""
    triggers = [compile_trigger(d.trigger) for d in DEFAULT_PROGRAMS.values()]
    matched = 0
    started = time.perf_counter()
    for s in snapshots:
        context = account_context(s, triggers)
        for trigger in triggers:
            matched += evaluate(trigger, context).matched
    return time.perf_counter() - started, matched


async def bare_copy(dsn: str, rows: int) -> float:
    """Seconds to COPY ``rows`` decision-shaped rows into a table without indexes."""
    now = datetime.now(UTC)
    records = [
        (now, f"acct-{i // 8:07d}", "renewal_credit", 1, "trigger_false", "no match", None, now)
        for i in range(rows)
    ]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "CREATE TEMP TABLE floor (decided_at timestamptz, account_id text, program_id text,"
            " program_version int, outcome text, reason text, offer_id uuid,"
            " snapshot_computed_at timestamptz)"
        )
        started = time.perf_counter()
        await conn.copy_records_to_table("floor", records=records)
        return time.perf_counter() - started
    finally:
        await conn.close()


async def evaluate_all(client: httpx.AsyncClient) -> tuple[float, dict[str, Any]]:
    """Seconds of ``POST /v1/evaluate`` over every account, and its answer."""
    started = time.perf_counter()
    answer = await client.post("/v1/evaluate", json={})
    seconds = time.perf_counter() - started
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()
    return seconds, body


async def counts(dsn: str) -> tuple[int, int]:
    """Decisions and offers stored."""
    conn = await asyncpg.connect(dsn)
    try:
        return (
            await conn.fetchval("SELECT count(*) FROM offers.decisions"),
            await conn.fetchval("SELECT count(*) FROM offers.offers"),
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
    now = datetime.now(UTC)
    offers: ServiceProcess | None = None
    try:
        await migrate.upgrade(url)
        snapshots = book(now)
        load_seconds = await load(dsn, snapshots)
        cel_seconds, matched = bare_cel(snapshots)
        evaluations = ACCOUNTS * len(DEFAULT_PROGRAMS)
        copy_seconds = await bare_copy(dsn, evaluations)
        del snapshots
        _key, admin = await create_key_at(url, "bench", ["admin"])
        keys = await service_keys(url)
        offers = ServiceProcess(
            "offers",
            url,
            env=deployed_env(
                TENURE_SERVICE_API_KEY=keys["offers"],
                # The ledger is not running: grants of auto-approved credits wait in the
                # outbox, as in an outage.
                TENURE_LEDGER_URL=f"http://127.0.0.1:{free_port()}",
            ),
        )
        await asyncio.to_thread(offers.start)
        headers = {"Authorization": f"Bearer {admin}"}
        async with httpx.AsyncClient(base_url=offers.url, headers=headers, timeout=600) as client:
            end_to_end, summary = await evaluate_all(client)
            again, summary_again = await evaluate_all(client)
        stored = await counts(dsn)
    finally:
        if offers is not None:
            offers.stop()
        await drop_database(server, name)

    rate = evaluations / end_to_end
    lines = [
        f"snapshots:                  {ACCOUNTS:,} (loaded in {load_seconds:.0f} s),"
        f" {len(DEFAULT_PROGRAMS)} programs",
        f"bare CEL (floor):           {cel_seconds:.1f} s ({evaluations / cel_seconds:,.0f}"
        f" evaluations/s; {matched:,} matched)",
        f"bare COPY of the decisions: {copy_seconds:.1f} s"
        f" ({evaluations / copy_seconds:,.0f} rows/s)",
        f"end to end:                 {end_to_end:.1f} s ({rate:,.0f} evaluations/s)"
        "  target >= 25,000/s",
        f"again, all cooling down:    {again:.1f} s ({evaluations / again:,.0f} evaluations/s)",
        f"first run's outcomes:       {summary['outcomes']}",
        f"second run's outcomes:      {summary_again['outcomes']}",
        f"stored:                     {stored[0]:,} decisions, {stored[1]:,} offers",
        f"ratio end to end / (CEL + COPY): {end_to_end / (cel_seconds + copy_seconds):.2f}",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
