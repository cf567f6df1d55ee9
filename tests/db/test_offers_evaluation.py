"""Evaluation on a real database: a live version that no longer reads is left out, and the
other programs still decide."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.offers.domain.defaults import DEFAULT_PROGRAMS
from services.offers.models import Decision, Program, ProgramVersion
from services.offers.service.evaluation import evaluate_snapshots
from services.offers.service.programs import ensure_defaults
from shared.db import create_engine, service_url, session_factory, unit_of_work
from tests.offers_support import due_for_renewal


@pytest.fixture
async def factory(fresh_database: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(service_url(fresh_database, "offers"))
    yield session_factory(engine)
    await engine.dispose()


async def test_a_live_version_that_no_longer_reads_is_left_out_and_the_rest_decide(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    broken = DEFAULT_PROGRAMS["power_user_access"].model_dump(mode="json")
    broken["trigger"] = "account.no_such_field == 1"
    async with unit_of_work(factory) as session:
        await ensure_defaults(session)
        session.add(
            Program(id="broken", status="active", live_version=1, latest_version=1, created_by="t")
        )
        await session.flush()
        session.add(
            ProgramVersion(
                program_id="broken", version=1, definition=broken, state="live", created_by="t"
            )
        )
    now = datetime.now(UTC)
    async with unit_of_work(factory) as session:
        summary = await evaluate_snapshots(session, [due_for_renewal("acct-1")], "test", now)
    assert summary.evaluations == len(DEFAULT_PROGRAMS)
    async with factory() as session:
        decided = set(await session.scalars(select(Decision.program_id)))
    assert decided == set(DEFAULT_PROGRAMS)
