"""A rollup recount holds off only the accounts it recounts: ingest stays writable meanwhile."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ingest.domain.rollups import DEFAULT_EVENT_MAP
from services.ingest.repository import rollups as rollups_repo
from services.ingest.schemas.accounts import AccountFields
from services.ingest.service import accounts as accounts_service
from services.ingest.service import events as events_service
from services.ingest.service import intake
from shared.db import create_engine, service_url, session_factory, unit_of_work

DAY = date(2026, 11, 10)
ROLLUP_TABLES = ("daily_rollups", "daily_active_users", "daily_features")


@pytest.fixture
async def factory(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(service_url(database_url, "ingest"))
    yield session_factory(engine)
    await engine.dispose()


def login(account_id: str, user: str) -> dict[str, str]:
    return {
        "id": f"evt-{uuid.uuid4().hex}",
        "account_id": account_id,
        "user_id": user,
        "name": "login",
        "timestamp": f"{DAY.isoformat()}T09:00:00Z",
    }


async def post(session: AsyncSession, *events: dict[str, str]) -> int:
    now = datetime.now(UTC)
    parsed = [events_service.parse_native(e, i, now) for i, e in enumerate(events)]
    result = await intake.accept_events(
        session, parsed=parsed, source_label="native", source_id=None
    )
    assert not result.rejected
    return result.accepted


async def account_in_another_lock_bucket(
    factory: async_sessionmaker[AsyncSession], account_id: str
) -> str:
    """A new account id whose rollup lock bucket is not ``account_id``'s."""
    candidates = [f"acct-{uuid.uuid4().hex[:10]}" for _ in range(8)]
    async with factory() as session:
        rows = await session.execute(
            text("SELECT a, hashtext(a) & 255 FROM unnest(CAST(:ids AS text[])) AS a"),
            {"ids": [account_id, *candidates]},
        )
        buckets: dict[str, int] = {a: bucket for a, bucket in rows.all()}
    return next(c for c in candidates if buckets[c] != buckets[account_id])


async def post_waiting_at_most(
    factory: async_sessionmaker[AsyncSession], lock_timeout: str, event: dict[str, str]
) -> None:
    async with unit_of_work(factory) as writer:
        await writer.execute(text(f"SET LOCAL lock_timeout = '{lock_timeout}'"))
        await post(writer, event)


async def events_on_day(session: AsyncSession, account_id: str) -> int:
    rows = await rollups_repo.rollups_for(session, [account_id], DAY, DAY)
    return rows[0].events if rows else 0


async def test_a_rebuild_holds_off_only_the_accounts_it_recounts(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    rebuilt = f"acct-{uuid.uuid4().hex[:10]}"
    other = await account_in_another_lock_bucket(factory, rebuilt)
    fields = AccountFields.model_validate(
        {
            "name": "Acme",
            "motion_segment": "smb",
            "billing_period": "monthly",
            "mrr_minor": 1,
            "currency": "EUR",
            "seats_purchased": 1,
            "status": "active",
        }
    )
    async with unit_of_work(factory) as session:
        for account_id in (rebuilt, other):
            await accounts_service.upsert_account(session, account_id, fields)
        await post(session, login(rebuilt, "ann"), login(rebuilt, "bob"))

    # A recount of one account, driven step by step: it is open (not committed) here.
    async with factory() as rebuilding:
        assert await rollups_repo.rebuild_rollups(rebuilding, [rebuilt], DEFAULT_EVENT_MAP) == 2
        async with factory() as observer:
            strong = await observer.scalar(
                text(
                    "SELECT count(*) FROM pg_locks AS l JOIN pg_class AS c ON c.oid = l.relation"
                    " WHERE c.relname = ANY(:tables)"
                    " AND l.mode IN ('ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock',"
                    " 'AccessExclusiveLock')"
                ),
                {"tables": list(ROLLUP_TABLES)},
            )
        assert strong == 0  # no table lock that would stop other writers

        # Another account's events are accepted and rolled up meanwhile...
        async with unit_of_work(factory) as writer:
            await writer.execute(text("SET LOCAL lock_timeout = '30s'"))
            assert await post(writer, login(other, "cy")) == 1
        # ...while the recounted account's writers wait for the recount to commit.
        with pytest.raises(asyncpg.exceptions.LockNotAvailableError):
            await post_waiting_at_most(factory, "100ms", login(rebuilt, "dee"))
        await rebuilding.commit()

    async with unit_of_work(factory) as writer:
        assert await post(writer, login(rebuilt, "dee")) == 1
    async with factory() as session:
        assert await events_on_day(session, rebuilt) == 3
        assert await events_on_day(session, other) == 1
        rollup = (await rollups_repo.rollups_for(session, [rebuilt], DAY, DAY))[0]
        assert rollup.active_users == 3
