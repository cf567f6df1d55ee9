"""Scoring's writes in the database: what is announced to offers, when, and what is kept."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.scoring.models import Outbox
from services.scoring.repository import snapshots as snapshots_repo
from services.scoring.schemas.scores import OverrideIn
from services.scoring.service import overrides as overrides_service
from services.scoring.service.recompute import score_windows
from services.scoring.service.worker import Worker
from services.scoring.settings import ScoringSettings
from shared.contracts import AccountWindows, Snapshot
from shared.db import create_engine, service_url, session_factory, unit_of_work
from shared.http import ServiceClient
from tests.unit.scoring_factory import NOW, facts, windows


@pytest.fixture
async def factory(fresh_database: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    # A database of its own: its clock is years ahead, and no scoring process shares it.
    engine = create_engine(service_url(fresh_database, "scoring"))
    yield session_factory(engine)
    await engine.dispose()


def account_windows(account_id: str, **changes: Any) -> AccountWindows:
    return windows(account=facts(external_id=account_id), account_id=account_id, **changes)


async def stored(factory: async_sessionmaker[AsyncSession], account_id: str) -> Snapshot:
    async with unit_of_work(factory) as session:
        snapshot = await snapshots_repo.snapshot_document(session, account_id)
    assert snapshot is not None
    return snapshot


async def announced(factory: async_sessionmaker[AsyncSession], account_id: str) -> list[Any]:
    async with unit_of_work(factory) as session:
        payloads = await session.scalars(
            select(Outbox.payload)
            .where(Outbox.payload["snapshot"]["account_id"].astext == account_id)
            .order_by(Outbox.id)
        )
        return [p["changes"] for p in payloads]


async def test_only_a_change_a_program_may_care_about_is_announced(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    account_id = f"acct-{uuid.uuid4().hex}"
    for _ in range(2):
        async with unit_of_work(factory) as session:
            await score_windows(session, [account_windows(account_id)], read_at=NOW)
    assert await announced(factory, account_id) == [["created"]]

    busier = account_windows(account_id, active_users_30=30)
    async with unit_of_work(factory) as session:
        result = await score_windows(session, [busier], read_at=NOW + timedelta(minutes=1))
    assert (result.scored, result.changed) == (1, 1)
    assert "tier" in (await announced(factory, account_id))[-1]
    assert (await stored(factory, account_id)).tier == "gold"


async def test_a_batch_that_read_older_signals_leaves_a_fresher_snapshot(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    account_id = f"acct-{uuid.uuid4().hex}"
    async with unit_of_work(factory) as session:
        await score_windows(session, [account_windows(account_id)], read_at=NOW)
    stale = account_windows(account_id, active_users_30=30)
    async with unit_of_work(factory) as session:
        result = await score_windows(session, [stale], read_at=NOW - timedelta(seconds=1))
    assert result.scored == 0
    assert (await stored(factory, account_id)).tier == "silver"
    async with unit_of_work(factory) as session:
        unknown = windows(no_account=True, account_id=account_id)
        assert (await score_windows(session, [unknown], read_at=NOW)).scored == 0


async def test_an_override_lapses_at_its_expiry_and_offers_hears_of_the_colour(
    factory: async_sessionmaker[AsyncSession], fresh_database: str
) -> None:
    account_id = f"acct-{uuid.uuid4().hex}"
    async with unit_of_work(factory) as session:
        await score_windows(session, [account_windows(account_id)], read_at=NOW)
    computed = (await stored(factory, account_id)).computed_colour
    colour = "red" if computed != "red" else "green"
    expires = NOW + timedelta(hours=1)
    async with unit_of_work(factory) as session:
        body = OverrideIn(colour=colour, reason="exec sponsor left", expires_at=expires)
        overridden = await overrides_service.set_override(session, account_id, body, "csm", NOW)
    assert (overridden.colour, overridden.computed_colour) == (colour, computed)
    assert (await announced(factory, account_id))[-1] == ["colour"]

    worker = Worker(
        factory,
        ServiceClient("http://127.0.0.1:9", ""),
        ScoringSettings(database_url=fresh_database, daily_recompute_at=None),
    )
    assert await worker.lapse_overrides(expires - timedelta(seconds=1)) is False
    assert (await stored(factory, account_id)).colour == colour
    assert await worker.lapse_overrides(expires) is True
    lapsed = await stored(factory, account_id)
    assert (lapsed.colour, lapsed.override) == (computed, None)
    assert (await announced(factory, account_id))[-1] == ["colour"]
    async with unit_of_work(factory) as session:
        count = await session.scalar(select(func.count()).select_from(Outbox))
    assert count == 3  # created, overridden, lapsed
