"""Ledger benchmark: grants and redemptions through the real service vs raw asyncpg inserts.

32 concurrent clients over 10,000 customer accounts, then all on 10 hot accounts, against a
real ledger process; in the same run, raw asyncpg inserts the same transactions and postings
into scratch tables (the floor). Then the batched case (500 grants a batch) three times, each
on new accounts, so a run unlike the others shows. Prints transactions/s, latency, each
ratio, and the CPU the ledger and its own PostgreSQL server spent.

    make bench-ledger
    BENCH_OPS=4000 .venv/bin/python bench/ledger.py
    BENCH_ASYNC_COMMIT=1 ...   # the same with synchronous_commit off: is WAL flush the bound?
    BENCH_WORKERS=2 ...        # two uvicorn worker processes (WEB_CONCURRENCY)
    BENCH_GROUPS=1 ...         # write groups in flight per process (default 2)
    BENCH_BATCHES=20 ...       # batches per batched run (default 60)
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ingest import cpu_seconds, deployed_env, postgres_processes
from bench.loadgen import Connection
from shared import embedded, migrate
from shared.cli import create_key_at
from tests.conftest import create_database, drop_database
from tests.support import ROOT, ServiceProcess, scratch_database_name, with_database

OPS = int(os.environ.get("BENCH_OPS", "8000"))
CLIENTS = 32
ACCOUNTS = 10_000
HOT = 10


def plan(accounts: int, seed: int) -> list[tuple[str, str]]:
    """(operation, account) pairs: grants, and redemptions on accounts already granted."""
    rng = random.Random(seed)
    granted: list[str] = []
    ops = []
    for _ in range(OPS):
        if granted and rng.random() < 0.4:
            ops.append(("redemption", rng.choice(granted)))
        else:
            account = f"acct-{seed}-{rng.randrange(accounts)}"
            granted.append(account)
            ops.append(("grant", account))
    return ops


async def http_run(url: str, key: str, ops: list[tuple[str, str]]) -> tuple[float, list[float]]:
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    for op in ops:
        queue.put_nowait(op)
    latencies: list[float] = []
    expires = (datetime.now(UTC) + timedelta(days=90)).isoformat()

    async def worker() -> None:
        async with Connection(url, {"Authorization": f"Bearer {key}"}) as client:
            while not queue.empty():
                kind, account = queue.get_nowait()
                if kind == "grant":
                    path = "/v1/grants"
                    body: dict[str, Any] = {
                        "account_id": account,
                        "unit": "USD",
                        "amount": 1_000,
                        "expires_at": expires,
                        "program_id": "bench",
                    }
                else:
                    path = "/v1/redemptions"
                    body = {
                        "account_id": account,
                        "unit": "USD",
                        "amount": 300,
                        "invoice_id": uuid.uuid4().hex,
                    }
                started = time.perf_counter()
                status, answer = await client.request(
                    "POST", path, body, {"Idempotency-Key": uuid.uuid4().hex}
                )
                latencies.append(time.perf_counter() - started)
                if status not in (200, 201, 404):
                    raise RuntimeError(f"{path}: {status} {answer[:200]!r}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CLIENTS)))
    return time.perf_counter() - started, latencies


async def floor_run(dsn: str, ops: list[tuple[str, str]]) -> float:
    """The same transactions and postings, inserted by raw asyncpg into scratch tables."""
    pool = await asyncpg.create_pool(dsn, min_size=CLIENTS, max_size=CLIENTS)
    assert pool is not None
    try:
        async with pool.acquire() as conn:
            await conn.execute(
                "DROP TABLE IF EXISTS public.bench_tx, public.bench_postings;"
                "CREATE TABLE public.bench_tx (LIKE ledger.transactions INCLUDING ALL);"
                "CREATE TABLE public.bench_postings (LIKE ledger.postings INCLUDING ALL);"
            )
        queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        for op in ops:
            queue.put_nowait(op)

        async def worker() -> None:
            async with pool.acquire() as conn:
                while not queue.empty():
                    kind, account = queue.get_nowait()
                    tx_id, now = uuid.uuid4(), datetime.now(UTC)
                    async with conn.transaction():
                        await conn.execute(
                            "INSERT INTO public.bench_tx (id, kind, effective_at, chain_key,"
                            " chain_seq, prev_hash, hash, customer_account_id)"
                            " VALUES ($1, $2, $3, $4, 1, $5, $5, $6)",
                            tx_id,
                            kind,
                            now,
                            f"customer:{account}:USD:{tx_id}",
                            "0" * 64,
                            account,
                        )
                        await conn.executemany(
                            "INSERT INTO public.bench_postings (id, transaction_id,"
                            " ledger_account_id, unit, amount, effective_at)"
                            " VALUES (nextval('ledger.postings_id_seq'), $1, $2, 'USD', $3, $4)",
                            [
                                (tx_id, f"customer:{account}:USD", -1000, now),
                                (tx_id, "expense:program:bench:USD", 1000, now),
                            ],
                        )

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CLIENTS)))
        elapsed = time.perf_counter() - started
        async with pool.acquire() as conn:
            await conn.execute("DROP TABLE public.bench_tx, public.bench_postings")
        return elapsed
    finally:
        await pool.close()


BATCHES = int(os.environ.get("BENCH_BATCHES", "60"))
BATCH_RUNS = 3
BATCH_SIZE = 500
BATCH_CLIENTS = 4


async def batch_run(url: str, key: str, run: int) -> float:
    """Grants (two postings each) in batches of 500 from 4 clients, to accounts new in this
    run; returns the seconds."""
    expires = (datetime.now(UTC) + timedelta(days=90)).isoformat()
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for b in range(BATCHES):
        queue.put_nowait(
            [
                {
                    "operation": "grant",
                    "idempotency_key": uuid.uuid4().hex,
                    "grant": {
                        "account_id": f"batch-{run}-{b}-{i}",
                        "unit": "USD",
                        "amount": 1_000,
                        "expires_at": expires,
                        "program_id": "bench",
                    },
                }
                for i in range(BATCH_SIZE)
            ]
        )

    async def worker() -> None:
        async with Connection(url, {"Authorization": f"Bearer {key}"}) as client:
            while not queue.empty():
                items = queue.get_nowait()
                status, answer = await client.request(
                    "POST", "/v1/transactions/batch", {"items": items}
                )
                statuses = {r["status"] for r in orjson.loads(answer)["results"]}
                if status != 200 or statuses != {201}:
                    raise RuntimeError(f"batch failed: {status} {statuses}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(BATCH_CLIENTS)))
    return time.perf_counter() - started


async def batch_floor_run(dsn: str) -> float:
    """The same grants' transactions and postings, 500 per database transaction."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "DROP TABLE IF EXISTS public.bench_tx, public.bench_postings;"
            "CREATE TABLE public.bench_tx (LIKE ledger.transactions INCLUDING ALL);"
            "CREATE TABLE public.bench_postings (LIKE ledger.postings INCLUDING ALL);"
        )
        started = time.perf_counter()
        for b in range(BATCHES):
            now = datetime.now(UTC)
            ids = [uuid.uuid4() for _ in range(BATCH_SIZE)]
            async with conn.transaction():
                await conn.executemany(
                    "INSERT INTO public.bench_tx (id, kind, effective_at, chain_key, chain_seq,"
                    " prev_hash, hash) VALUES ($1, 'grant', $2, $3, 1, $4, $4)",
                    [(t, now, f"c:{b}:{i}", "0" * 64) for i, t in enumerate(ids)],
                )
                await conn.executemany(
                    "INSERT INTO public.bench_postings (id, transaction_id, ledger_account_id,"
                    " unit, amount, effective_at)"
                    " VALUES (nextval('ledger.postings_id_seq'), $1, $2, 'USD', $3, $4)",
                    [
                        row
                        for t in ids
                        for row in ((t, "customer", -1000, now), (t, "expense", 1000, now))
                    ],
                )
        elapsed = time.perf_counter() - started
        await conn.execute("DROP TABLE public.bench_tx, public.bench_postings")
        return elapsed
    finally:
        await conn.close()


def server_processes() -> list[psutil.Process]:
    """The benchmark's own PostgreSQL server and its backends; every PostgreSQL process on
    the machine when the server is external (other servers' work is then counted too)."""
    if os.environ.get("BENCH_DATABASE_URL"):
        return postgres_processes()
    pid_file = ROOT / ".tenure" / "bench-pgdata" / "postmaster.pid"
    try:
        postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
        return [postmaster, *postmaster.children(recursive=True)]
    except (OSError, ValueError, psutil.Error):
        return postgres_processes()


def report(name: str, seconds: float, latencies: list[float]) -> float:
    rate = len(latencies) / seconds
    cut = statistics.quantiles(latencies, n=100)
    print(
        f"{name:34} {rate:8,.0f} tx/s   p50 {cut[49] * 1000:5.0f} ms   p99 {cut[98] * 1000:5.0f} ms"
    )
    return rate


async def main() -> None:
    server = (
        os.environ.get("BENCH_DATABASE_URL") or embedded.start(ROOT / ".tenure" / "bench-pgdata")[0]
    )
    name = scratch_database_name()
    await create_database(server, name)
    url = with_database(server, name)
    ledger: ServiceProcess | None = None
    try:
        await migrate.upgrade(url)
        if os.environ.get("BENCH_ASYNC_COMMIT"):
            conn = await asyncpg.connect(with_database(server, name).replace("+asyncpg", ""))
            await conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
            await conn.close()
        _key, key = await create_key_at(url, "bench", ["ledger:write", "ledger:read"])
        _key, admin = await create_key_at(url, "bench-admin", ["admin"])  # for the audit
        ledger = ServiceProcess(
            "ledger",
            url,
            env=deployed_env(
                TENURE_DB_POOL_SIZE="32",
                # One key is the whole load here: lift its per-key limit out of the way.
                TENURE_RATE_LIMIT_PER_SECOND="1000000",
                TENURE_RATE_LIMIT_BURST="1000000",
                WEB_CONCURRENCY=os.environ.get("BENCH_WORKERS", "1"),
                TENURE_WRITE_GROUPS_IN_FLIGHT=os.environ.get("BENCH_GROUPS", "2"),
            ),
        )
        await asyncio.to_thread(ledger.start)
        assert ledger.process is not None
        main = psutil.Process(ledger.process.pid)
        procs = [main, *main.children(recursive=True)]  # uvicorn's workers, if several
        spread_ops, hot_ops = plan(ACCOUNTS, 1), plan(HOT, 2)
        me = [psutil.Process()]
        before = (cpu_seconds(procs), cpu_seconds(server_processes()), cpu_seconds(me))
        spread = await http_run(ledger.url, key, spread_ops)
        after = (cpu_seconds(procs), cpu_seconds(server_processes()), cpu_seconds(me))
        hot = await http_run(ledger.url, key, hot_ops)
        dsn = with_database(server, name).replace("postgresql+asyncpg", "postgresql")
        floor_seconds = await floor_run(dsn, spread_ops)
        # The batched case three times over a growing ledger: a run that is much slower than
        # the others on the same code is the thing to look for (it once was, by a cached plan).
        batches: list[tuple[float, float, float]] = []  # seconds, ledger CPU, PostgreSQL CPU
        for run in range(BATCH_RUNS):
            batch_before = (cpu_seconds(procs), cpu_seconds(server_processes()))
            seconds = await batch_run(ledger.url, key, run)
            batches.append(
                (
                    seconds,
                    cpu_seconds(procs) - batch_before[0],
                    cpu_seconds(server_processes()) - batch_before[1],
                )
            )
        batch_floor_seconds = await batch_floor_run(dsn)
        async with httpx.AsyncClient(
            base_url=ledger.url, headers={"Authorization": f"Bearer {admin}"}, timeout=300
        ) as client:
            audit = (await client.get("/v1/audit/verify")).json()
    finally:
        if ledger is not None:
            ledger.stop()
        await drop_database(server, name)

    print(f"operations: {OPS:,} per run (60% grants, 40% redemptions), {CLIENTS} clients")
    spread_rate = report("HTTP, 10,000 accounts", *spread)
    hot_rate = report("HTTP, 10 hot accounts", *hot)
    floor_rate = OPS / floor_seconds
    print(f"{'raw asyncpg floor (same rows)':34} {floor_rate:8,.0f} tx/s")
    print(f"ratio HTTP / floor:        {spread_rate / floor_rate:.2f}")
    print(f"ratio hot / spread:        {hot_rate / spread_rate:.2f}  (target >= 0.5)")
    print(f"target 2,000 tx/s:         {'met' if spread_rate >= 2000 else 'not met'}")
    postings = BATCHES * BATCH_SIZE * 2
    batch_floor = postings / batch_floor_seconds
    for run, (seconds, ledger_cpu, postgres_cpu) in enumerate(batches, start=1):
        rate = postings / seconds
        print(
            f"batched run {run}, {BATCH_SIZE} a batch: {rate:8,.0f} postings/s "
            f"(ratio to floor {rate / batch_floor:.2f}; target 10,000); CPU: ledger "
            f"{ledger_cpu:.1f} s, PostgreSQL {postgres_cpu:.1f} s of {2 * seconds:.1f} core-seconds"
        )
    print(f"{'raw asyncpg batched floor':34} {batch_floor:8,.0f} postings/s")
    used = [b - a for a, b in zip(before, after, strict=True)]
    print(
        f"CPU in the spread run:     ledger {used[0]:.1f} s, PostgreSQL {used[1]:.1f} s, "
        f"load generator {used[2]:.1f} s of {2 * spread[0]:.1f} core-seconds"
    )
    print(
        f"audit after the runs:      {'ok' if audit['ok'] else audit['first_break']} "
        f"({audit['transactions_checked']:,} transactions)"
    )


if __name__ == "__main__":
    asyncio.run(main())
