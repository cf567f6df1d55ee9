"""Seeding the default programs: a second seeder waits on the first's claim and creates
nothing, so the defaults exist once however many processes start at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.offers.domain.defaults import DEFAULT_PROGRAMS
from services.offers.service import programs as service
from shared.db import create_engine, service_url, session_factory, unit_of_work


@pytest.fixture
async def engine(fresh_database: str) -> AsyncIterator[AsyncEngine]:
    """The offers role's engine on a database no defaults were seeded in yet."""
    engine = create_engine(service_url(fresh_database, "offers"))
    yield engine
    await engine.dispose()


async def blocked_on_a_lock(engine: AsyncEngine, within: float = 30) -> None:
    """Return once some session of the database waits on a lock (bounded)."""
    deadline = time.monotonic() + within
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    while time.monotonic() < deadline:
        async with engine.connect() as conn:
            if await conn.scalar(query):
                return
        await asyncio.sleep(0.02)
    raise AssertionError("the second seeder never waited on the first")


async def seed(factory: async_sessionmaker[AsyncSession]) -> list[str]:
    async with unit_of_work(factory) as session:
        return await service.ensure_defaults(session)


async def test_a_second_seeder_waits_for_the_first_and_creates_nothing(
    engine: AsyncEngine,
) -> None:
    factory = session_factory(engine)
    first = factory()
    try:
        assert await service.ensure_defaults(first) == sorted(DEFAULT_PROGRAMS)
        second = asyncio.create_task(seed(factory))
        await blocked_on_a_lock(engine)
        await first.commit()
    finally:
        await first.close()
    assert await second == []
    assert await seed(factory) == []
    async with engine.connect() as conn:
        programs = await conn.scalar(text("SELECT count(*) FROM offers.programs"))
        versions = await conn.scalar(text("SELECT count(*) FROM offers.program_versions"))
    assert programs == versions == len(DEFAULT_PROGRAMS)


async def test_a_default_whose_seeder_rolled_back_is_seeded_by_the_next(
    engine: AsyncEngine,
) -> None:
    factory = session_factory(engine)
    first = factory()
    try:
        await service.ensure_defaults(first)
        second = asyncio.create_task(seed(factory))
        await blocked_on_a_lock(engine)
        await first.rollback()
    finally:
        await first.close()
    assert await second == sorted(DEFAULT_PROGRAMS)
