"""Scoring's queues in the database: accounts to rescore, and recompute jobs."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.scoring.models import Job
from services.scoring.repository import changes as changes_repo
from services.scoring.repository import jobs as jobs_repo
from shared.db import create_engine, service_url, session_factory, unit_of_work


@pytest.fixture
async def factory(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(service_url(database_url, "scoring"))
    yield session_factory(engine)
    await engine.dispose()


async def test_a_change_marked_again_while_its_batch_runs_stays_queued(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    quiet, busy = f"q-{uuid.uuid4().hex}", f"b-{uuid.uuid4().hex}"
    async with unit_of_work(factory) as session:
        await changes_repo.record_changes(session, Counter([quiet, busy]))
    async with unit_of_work(factory) as session:
        pending = {
            c.account_id: c
            for c in await changes_repo.pending_changes(session, after=None, limit=100_000)
        }
    seen = [(i, pending[i].last_changed_at) for i in (quiet, busy)]
    # Ingest announces another change of one of them while the batch is being scored.
    async with unit_of_work(factory) as session:
        await changes_repo.record_changes(session, Counter([busy]))
    async with unit_of_work(factory) as session:
        await changes_repo.forget_changes(session, seen)
    async with unit_of_work(factory) as session:
        left = {
            c.account_id
            for c in await changes_repo.pending_changes(session, after=None, limit=100_000)
        }
    assert quiet not in left
    assert busy in left


async def test_the_daily_recompute_is_queued_once_however_many_processes_schedule_it(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    day = (datetime.now(UTC) + timedelta(days=3650 + uuid.uuid4().int % 1000)).date()

    async def schedule() -> bool:
        async with unit_of_work(factory) as session:
            return await jobs_repo.schedule_daily(session, day)

    results = await asyncio.gather(*(schedule() for _ in range(8)))
    assert sorted(results) == [False] * 7 + [True]


async def test_two_workers_never_claim_the_same_job(fresh_database: str) -> None:
    # A database of its own: no running scoring process claims the jobs first.
    engine = create_engine(service_url(fresh_database, "scoring"))
    factory = session_factory(engine)
    now = datetime.now(UTC)
    async with unit_of_work(factory) as session:
        await jobs_repo.add_job(
            session,
            Job(
                kind="recompute",
                status="queued",
                requested_by="test",
                done=0,
                scored=0,
                changed=0,
                account_ids=["a"],
            ),
        )
    async with factory() as first, factory() as second, first.begin(), second.begin():
        one = await jobs_repo.claim_job(first, now, timedelta(minutes=2))
        other = await jobs_repo.claim_job(second, now, timedelta(minutes=2))
        assert one is not None
        assert other is None
    await engine.dispose()
