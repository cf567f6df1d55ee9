"""A source's activity (GET /v1/sources): its newest event and counts over a day and a week,
read by index range scans of its own rows, never a scan of a whole table."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import insert, text
from sqlalchemy.dialects import postgresql

from services.ingest.models import RejectedEvent, Source, StoredEvent, WebhookEvent
from services.ingest.repository.sources import activity_query, source_activity
from shared.db import create_engine, service_url, session_factory, unit_of_work


def _event(source_id: uuid.UUID, received_at: datetime) -> dict[str, Any]:
    return {
        "id": f"act-{uuid.uuid4().hex}",
        "source_id": source_id,
        "type": "track",
        "name": "login",
        "ts": received_at,
        "received_at": received_at,
        "properties": {},
    }


async def test_activity_counts_a_sources_own_rows_in_each_window(database_url: str) -> None:
    engine = create_engine(service_url(database_url, "ingest"))
    factory = session_factory(engine)
    now = datetime.now(UTC)
    segment, hook, quiet = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    try:
        async with unit_of_work(factory) as session:
            for source_id, kind in ((segment, "segment"), (hook, "stripe"), (quiet, "segment")):
                await session.execute(
                    insert(Source).values(id=source_id, kind=kind, name=f"activity {kind}")
                )
            ages = [timedelta(minutes=5), timedelta(hours=30), timedelta(days=9)]
            await session.execute(
                insert(StoredEvent).values([_event(segment, now - age) for age in ages])
            )
            await session.execute(
                insert(WebhookEvent).values(
                    source_id=hook,
                    event_id="evt_1",
                    provider="stripe",
                    type="invoice.paid",
                    customer_ref="cus_1",
                    occurred_at=now,
                    payload={},
                    received_at=now - timedelta(hours=2),
                )
            )
            await session.execute(
                insert(RejectedEvent).values(
                    [
                        {
                            "source": label,
                            "reason": "refused",
                            "field": "f",
                            "raw": {},
                            "received_at": now - age,
                        }
                        for label, age in (
                            (f"segment:{segment}", timedelta(hours=1)),
                            (f"webhook:{hook}", timedelta(hours=1)),
                            (f"segment:{segment}", timedelta(days=2)),
                        )
                    ]
                )
            )
        async with unit_of_work(factory) as session:
            found = await source_activity(
                session,
                [segment, hook, quiet],
                day=now - timedelta(hours=24),
                week=now - timedelta(days=7),
            )
    finally:
        await engine.dispose()
    assert found[segment] == (now - timedelta(minutes=5), 1, 2, 1)
    assert found[hook] == (now - timedelta(hours=2), 1, 1, 1)
    assert found[quiet] == (None, 0, 0, 0)


def _scans(node: dict[str, Any]) -> list[str]:
    own = [f"{node['Node Type']} on {node['Relation Name']}"] if "Relation Name" in node else []
    return own + [scan for child in node.get("Plans", []) for scan in _scans(child)]


async def test_activity_reads_each_table_by_an_index_range_scan(database_url: str) -> None:
    now = datetime.now(UTC)
    query = activity_query(
        [uuid.uuid4(), uuid.uuid4()], day=now - timedelta(hours=24), week=now - timedelta(days=7)
    )
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    sql = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    engine = create_engine(service_url(database_url, "ingest"))
    try:
        async with engine.connect() as conn:
            # The scratch tables are small enough that a sequential scan would be cheapest:
            # with it priced out, a plan still holding one means no index serves the read.
            await conn.execute(text("SET enable_seqscan = off"))
            plan = await conn.scalar(text("EXPLAIN (FORMAT JSON) " + sql))
    finally:
        await engine.dispose()
    scans = _scans(orjson.loads(plan)[0]["Plan"] if isinstance(plan, str) else plan[0]["Plan"])
    for table in ("events", "webhook_events", "rejected_events"):
        on_table = [s for s in scans if s.endswith(f" on {table}")]
        assert on_table, scans
        assert all(s.startswith(("Index", "Bitmap")) for s in on_table), scans
    assert not [s for s in scans if s.startswith("Seq Scan")], scans
