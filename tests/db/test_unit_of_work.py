"""Raw asyncpg work on a session's connection commits and rolls back with the session."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db import create_engine, driver_connection, service_url, session_factory, unit_of_work

# Rejected-event rows: they change nothing else that the shared test database serves.
INSERT = (
    "INSERT INTO ingest.rejected_events (source, reason, field, raw)"
    " VALUES ($1, 'test', 'test', 'null'::jsonb)"
)


async def failing_work(factory: async_sessionmaker[AsyncSession], source: str) -> None:
    """Write on the raw connection and take a transaction lock, then fail."""
    async with unit_of_work(factory) as session:
        conn = await driver_connection(session)
        await conn.execute(INSERT, source)
        assert await conn.fetchval("SELECT pg_try_advisory_xact_lock(42)")
        raise RuntimeError("the work failed")


async def test_raw_statements_commit_and_roll_back_with_the_unit_of_work(
    database_url: str,
) -> None:
    engine = create_engine(service_url(database_url, "ingest"))
    factory = session_factory(engine)
    kept, dropped = f"kept-{uuid.uuid4().hex}", f"dropped-{uuid.uuid4().hex}"
    try:
        async with unit_of_work(factory) as session:
            await (await driver_connection(session)).execute(INSERT, kept)
        with pytest.raises(RuntimeError, match="the work failed"):
            await failing_work(factory, dropped)
        async with factory() as session:
            found = set(
                await session.scalars(
                    text("SELECT source FROM ingest.rejected_events WHERE source IN (:a, :b)"),
                    {"a": kept, "b": dropped},
                )
            )
            # The transaction-scoped lock ended with the rolled-back transaction.
            free = await (await driver_connection(session)).fetchval(
                "SELECT pg_try_advisory_xact_lock(42)"
            )
    finally:
        await engine.dispose()
    assert found == {kept}
    assert free is True


@pytest.mark.parametrize(
    "document",
    [
        '{"name": "Ünïcode ✓", "arr_minor": 9223372036854775807, "tags": [1.5, null, true]}',
        # Past 64 bits (orjson would give floats): read exactly.
        '{"huge": 123456789012345678901234567890, "low": -9223372036854775809}',
    ],
)
async def test_json_columns_read_back_as_they_were_stored(database_url: str, document: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            query = text("SELECT CAST(:d AS jsonb) AS doc").columns(doc=JSONB)
            found = (await conn.execute(query, {"d": document})).scalar_one()
    finally:
        await engine.dispose()
    assert found == json.loads(document)
