"""Ingest benchmark: Segment /v1/batch through the real service vs a bare asyncpg COPY.

200,000 track events in batches of 500 from 8 concurrent clients against a real ingest
process, then, in the same run and on the same server, asyncpg ``COPY`` of the same rows into
a scratch copy of the events table. Prints events/s for both, their ratio, and batch latency.

    make bench            # embedded PostgreSQL
    BENCH_EVENTS=50000 .venv/bin/python bench/ingest.py
"""

from __future__ import annotations

import asyncio
import base64
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

from bench.loadgen import Connection
from shared import embedded, migrate
from shared.cli import create_key_at
from shared.settings import ServiceSettings
from tests.conftest import create_database, drop_database, service_keys
from tests.support import ROOT, ServiceProcess, scratch_database_name, with_database

EVENTS = int(os.environ.get("BENCH_EVENTS", "200000"))
BATCH = 500
CLIENTS = 8
ACCOUNTS = 1000
USERS = 5000
NAMES = ["login", "report_created", "dashboard_viewed", "api_call", "export", "page_opened"]


def make_messages(count: int) -> list[dict[str, Any]]:
    """Segment-style track events spread over 30 days, 1,000 accounts and 5,000 users."""
    rng = random.Random(7)
    now = datetime.now(UTC)
    out = []
    for _ in range(count):
        user = rng.randrange(USERS)
        ts = now - timedelta(seconds=rng.randrange(30 * 86400))
        out.append(
            {
                "type": "track",
                "messageId": uuid.uuid4().hex,
                "userId": f"user-{user}",
                "event": rng.choice(NAMES),
                "timestamp": ts.isoformat(),
                "context": {"groupId": f"acct-{user % ACCOUNTS}"},
                "properties": {"plan": "growth", "value": rng.randrange(1000)},
            }
        )
    return out


async def http_run(
    url: str, write_key: str, messages: list[dict[str, Any]]
) -> tuple[float, list[float]]:
    batches = [messages[i : i + BATCH] for i in range(0, len(messages), BATCH)]
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for b in batches:
        queue.put_nowait(b)
    latencies: list[float] = []
    auth = {"Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()}

    async def worker() -> None:
        async with Connection(url, auth) as client:
            while not queue.empty():
                batch = queue.get_nowait()
                body = orjson.dumps({"batch": batch})
                started = time.perf_counter()
                status, answer = await client.request("POST", "/v1/batch", body)
                latencies.append(time.perf_counter() - started)
                result = orjson.loads(answer)
                if status != 200 or result["accepted"] != len(batch):
                    raise RuntimeError(f"batch not fully accepted: {result}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CLIENTS)))
    return time.perf_counter() - started, latencies


def deployed_env(**extra: str) -> dict[str, str]:
    """Service settings as deployed, plus what the benchmark sets.

    The test harness shortens outbox polls and backoffs, turns key caching off and quiets the
    logs; a benchmark must measure the service as it runs in production.
    """
    fields = ServiceSettings.model_fields
    names = [
        "log_level",
        "outbox_poll_seconds",
        "outbox_max_backoff_seconds",
        "api_key_cache_seconds",
        "rate_limit_per_second",
        "rate_limit_burst",
    ]
    return {**{f"TENURE_{n.upper()}": str(fields[n].default) for n in names}, **extra}


def cpu_seconds(processes: list[psutil.Process]) -> float:
    """User plus system CPU time of processes (those that have exited count as zero)."""
    total = 0.0
    for proc in processes:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def postgres_processes() -> list[psutil.Process]:
    """Every PostgreSQL server process on the machine (the benchmark's server among them)."""
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]


async def copy_run(url: str, messages: list[dict[str, Any]]) -> float:
    """The floor: COPY of the same rows into a scratch copy of ingest.events."""
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DROP TABLE IF EXISTS public.bench_events")
        await conn.execute("CREATE TABLE public.bench_events (LIKE ingest.events INCLUDING ALL)")
        now = datetime.now(UTC)
        rows = [
            (
                m["messageId"],
                None,
                "track",
                m["event"],
                datetime.fromisoformat(m["timestamp"]),
                now,
                m["context"]["groupId"],
                m["userId"],
                None,
                orjson.dumps(m["properties"]).decode(),
            )
            for m in messages
        ]
        columns = [
            "id",
            "source_id",
            "type",
            "name",
            "ts",
            "received_at",
            "account_id",
            "user_id",
            "anonymous_id",
            "properties",
        ]
        started = time.perf_counter()
        await conn.copy_records_to_table(
            "bench_events", records=rows, columns=columns, schema_name="public"
        )
        return time.perf_counter() - started
    finally:
        await conn.execute("DROP TABLE IF EXISTS public.bench_events")
        await conn.close()


async def main() -> None:
    server = (
        os.environ.get("BENCH_DATABASE_URL") or embedded.start(ROOT / ".tenure" / "bench-pgdata")[0]
    )
    name = scratch_database_name()
    await create_database(server, name)
    url = with_database(server, name)
    ingest: ServiceProcess | None = None
    try:
        await migrate.upgrade(url)
        _key, admin = await create_key_at(url, "bench", ["admin"])
        keys = await service_keys(url)
        ingest = ServiceProcess(
            "ingest",
            url,
            env=deployed_env(TENURE_SERVICE_API_KEY=keys["ingest"]),
        )
        await asyncio.to_thread(ingest.start)
        headers = {"Authorization": f"Bearer {admin}"}
        async with httpx.AsyncClient(base_url=ingest.url, headers=headers, timeout=60) as client:
            accounts = [
                {
                    "external_id": f"acct-{i}",
                    "name": f"Account {i}",
                    "motion_segment": "smb",
                    "billing_period": "monthly",
                    "mrr_minor": 10_000,
                    "currency": "USD",
                    "seats_purchased": 10,
                    "status": "active",
                }
                for i in range(ACCOUNTS)
            ]
            assert (
                await client.post("/v1/accounts/batch", json={"accounts": accounts})
            ).status_code == 200
            write_key = (
                await client.post("/v1/sources", json={"kind": "segment", "name": "bench"})
            ).json()["write_key"]

        messages = make_messages(EVENTS)
        assert ingest.process is not None
        service = [psutil.Process(ingest.process.pid)]
        me = [psutil.Process()]
        before = (cpu_seconds(service), cpu_seconds(postgres_processes()), cpu_seconds(me))
        http_seconds, latencies = await http_run(ingest.url, write_key, messages)
        after = (cpu_seconds(service), cpu_seconds(postgres_processes()), cpu_seconds(me))
        used = [b - a for a, b in zip(before, after, strict=True)]
        copy_seconds = await copy_run(url, messages)
    finally:
        if ingest is not None:
            ingest.stop()
        await drop_database(server, name)

    http_rate = EVENTS / http_seconds
    copy_rate = EVENTS / copy_seconds
    cut = statistics.quantiles(latencies, n=100)
    print(f"events:                 {EVENTS:,} in batches of {BATCH} from {CLIENTS} clients")
    print(f"HTTP /v1/batch:         {http_rate:,.0f} events/s ({http_seconds:.1f} s)")
    print(f"asyncpg COPY (floor):   {copy_rate:,.0f} events/s ({copy_seconds:.1f} s)")
    print(f"ratio HTTP / COPY:      {http_rate / copy_rate:.2f}  (target >= 0.5)")
    print(f"batch latency:          p50 {cut[49] * 1000:.0f} ms, p99 {cut[98] * 1000:.0f} ms")
    print(
        f"CPU during the HTTP run: ingest {used[0]:.1f} s, PostgreSQL {used[1]:.1f} s, "
        f"load generator {used[2]:.1f} s of {2 * http_seconds:.1f} core-seconds available"
    )


if __name__ == "__main__":
    asyncio.run(main())
