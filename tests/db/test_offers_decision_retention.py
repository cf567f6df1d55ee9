"""Decision retention on a real database: old decisions that offered nothing are forgotten,
offers and holdouts are kept, and nothing recent goes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.offers.domain.decisions import OUTCOMES
from services.offers.models import Decision
from services.offers.repository import decisions
from services.offers.service.decisions import forget_old
from shared.db import create_engine, service_url, session_factory, unit_of_work

NOW = datetime(2031, 5, 1, 12, tzinfo=UTC)  # any instant: the sweep takes `now`


@pytest.fixture
async def factory(fresh_database: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A database of this test's own: a sweep forgets every old decision it holds."""
    engine = create_engine(service_url(fresh_database, "offers"))
    yield session_factory(engine)
    await engine.dispose()


async def test_old_decisions_that_offered_nothing_are_forgotten_and_the_rest_kept(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    account = f"retention-{uuid.uuid4().hex[:8]}"
    records: list[decisions.DecisionRecord] = []
    for outcome in OUTCOMES:
        for age in (200, 10):
            at = NOW - timedelta(days=age)
            records.append((None, at, account, "renewal_credit", 1, outcome, "why", None, at))
    async with unit_of_work(factory) as session:
        await decisions.record(session, records)
    gone = await forget_old(factory, retention_days=90, now=NOW)
    assert gone == 6
    async with factory() as session:
        kept = (
            await session.execute(
                select(Decision.outcome, Decision.decided_at).where(Decision.account_id == account)
            )
        ).all()
    old = {o for o, at in kept if at < NOW - timedelta(days=90)}
    assert old == {"offered", "holdout"}
    assert sorted(o for o, at in kept if at >= NOW - timedelta(days=90)) == sorted(OUTCOMES)
