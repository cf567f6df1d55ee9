"""Account history as the writers record it: real changes only, in their transaction, under
concurrency, and from billing with its source and occurrence time; the migration's backfill."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ingest.models import AccountHistory
from services.ingest.repository import accounts as accounts_repo
from services.ingest.schemas.accounts import AccountIn
from services.ingest.service import accounts as accounts_service
from services.ingest.service.billing import apply_webhook
from shared import migrate
from shared.db import create_engine, service_url, session_factory, unit_of_work
from tests.e2e.test_accounts import account
from tests.e2e.test_webhooks import subscription_event


@pytest.fixture
async def factory(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(service_url(database_url, "ingest"))
    yield session_factory(engine)
    await engine.dispose()


def fields(**overrides: Any) -> AccountIn:
    return AccountIn.model_validate(account(**overrides))


async def history(
    factory: async_sessionmaker[AsyncSession], account_id: str
) -> list[AccountHistory]:
    async with factory() as session:
        rows = await session.scalars(
            select(AccountHistory)
            .where(AccountHistory.account_id == account_id)
            .order_by(AccountHistory.effective_at, AccountHistory.id)
        )
        return list(rows)


async def upsert(
    factory: async_sessionmaker[AsyncSession], account_id: str, body: AccountIn
) -> None:
    async with unit_of_work(factory) as session:
        await accounts_service.upsert_account(session, account_id, body)


async def test_an_upsert_that_changes_nothing_records_nothing(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    account_id = f"hist-{uuid.uuid4().hex[:10]}"
    await upsert(factory, account_id, fields())
    await upsert(factory, account_id, fields())  # the same facts again
    await upsert(factory, account_id, fields(name="Acme renamed", region="apac"))  # untracked
    rows = await history(factory, account_id)
    assert len(rows) == 1
    assert rows[0].source == "crm"
    assert set(rows[0].changes) == {
        "status",
        "plan",
        "billing_period",
        "mrr_minor",
        "currency",
        "seats_purchased",
        "renewal_date",
        "cancel_intent",
    }
    await upsert(factory, account_id, fields(name="Acme renamed", seats_purchased=41))
    rows = await history(factory, account_id)
    assert [r.changes for r in rows[1:]] == [{"seats_purchased": {"old": 40, "new": 41}}]


async def test_a_failed_upsert_records_nothing(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    account_id = f"hist-{uuid.uuid4().hex[:10]}"
    await upsert(factory, account_id, fields())

    async def failing() -> None:
        async with unit_of_work(factory) as session:
            await accounts_service.upsert_account(session, account_id, fields(mrr_minor=1))
            raise RuntimeError("the request fails after the change")

    with pytest.raises(RuntimeError):
        await failing()
    rows = await history(factory, account_id)
    assert len(rows) == 1
    assert rows[0].mrr_minor == 250_000


@pytest.mark.parametrize("exists", [False, True])
async def test_two_concurrent_upserts_of_one_account_record_both_changes_consistently(
    factory: async_sessionmaker[AsyncSession], exists: bool
) -> None:
    account_id = f"hist-{uuid.uuid4().hex[:10]}"
    if exists:
        await upsert(factory, account_id, fields(mrr_minor=1_000))
    async with unit_of_work(factory) as first:
        await accounts_service.upsert_account(first, account_id, fields(mrr_minor=2_000))
        # The second starts while the first is open and must wait for it, then compare
        # against what the first wrote (not against what was there before both).
        second = asyncio.create_task(upsert(factory, account_id, fields(mrr_minor=3_000)))
        await asyncio.sleep(0.3)
        assert not second.done()
    await second
    rows = await history(factory, account_id)
    mrr = [(r.changes["mrr_minor"]["old"], r.changes["mrr_minor"]["new"]) for r in rows]
    first_rows = [(None, 1_000), (1_000, 2_000)] if exists else [(None, 2_000)]
    assert mrr == [*first_rows, (2_000, 3_000)]
    async with factory() as session:
        stored = await accounts_repo.get_account(session, account_id)
        assert stored is not None
        assert stored.mrr_minor == rows[-1].mrr_minor == 3_000


async def test_many_concurrent_upserts_leave_a_history_that_replays_to_the_account(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    account_id = f"hist-{uuid.uuid4().hex[:10]}"
    await asyncio.gather(
        *(upsert(factory, account_id, fields(mrr_minor=1_000 + n)) for n in range(8))
    )
    rows = await history(factory, account_id)
    assert len(rows) == 8  # every upsert changed the MRR
    for before, after in itertools.pairwise(rows):
        assert after.changes["mrr_minor"]["old"] == before.mrr_minor
    async with factory() as session:
        stored = await accounts_repo.get_account(session, account_id)
        assert stored is not None
        assert stored.mrr_minor == rows[-1].mrr_minor


def stripe_row(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": event["id"],
        "source_id": uuid.uuid4(),
        "provider": "stripe",
        "type": event["type"],
        "customer_ref": event["data"]["object"]["customer"],
        "occurred_at": datetime.fromtimestamp(event["created"], UTC),
        "payload": event,
    }


async def apply(factory: async_sessionmaker[AsyncSession], event: dict[str, Any]) -> None:
    async with unit_of_work(factory) as session:
        customer = event["data"]["object"]["customer"]
        found = await accounts_repo.account_by_stripe_customer(session, customer)
        assert found is not None
        assert await apply_webhook(session, stripe_row(event), found) is None


async def test_a_stripe_change_records_its_source_event_and_occurrence_time(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    account_id = f"hist-{uuid.uuid4().hex[:10]}"
    customer = f"cus_{uuid.uuid4().hex[:10]}"
    created = datetime.now(UTC) - timedelta(hours=2)
    await upsert(factory, account_id, fields(stripe_customer_id=customer, effective_at=created))
    occurred = int(time.time()) - 3600
    event = subscription_event(customer, created=occurred, quantity=12)
    await apply(factory, event)
    rows = await history(factory, account_id)
    assert [r.source for r in rows] == ["crm", "stripe"]
    billing = rows[1]
    assert billing.event_id == event["id"]
    assert billing.effective_at == datetime.fromtimestamp(occurred, UTC)
    assert billing.effective_at < billing.recorded_at
    assert billing.changes["seats_purchased"] == {"old": 40, "new": 12}
    assert billing.changes["currency"] == {"old": "EUR", "new": "USD"}
    assert (billing.seats_purchased, billing.mrr_minor, billing.plan) == (12, 12_000, "growth")

    # Applied again (a replay), and an older event that loses: neither changes anything.
    await apply(factory, event)
    await apply(factory, subscription_event(customer, created=occurred - 60, quantity=3))
    assert len(await history(factory, account_id)) == 2


async def test_a_late_billing_change_is_placed_at_its_time_and_followed_by_later_rows(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    account_id = f"hist-{uuid.uuid4().hex[:10]}"
    customer = f"cus_{uuid.uuid4().hex[:10]}"
    start = datetime.now(UTC) - timedelta(days=10)
    await upsert(factory, account_id, fields(stripe_customer_id=customer, effective_at=start))
    # The CRM changes the plan; then a billing event that occurred before it arrives.
    await upsert(factory, account_id, fields(stripe_customer_id=customer, plan="scale"))
    occurred = int((start + timedelta(days=1)).timestamp())
    await apply(factory, subscription_event(customer, created=occurred, quantity=12))
    rows = await history(factory, account_id)
    assert [r.source for r in rows] == ["crm", "stripe", "crm"]
    assert [r.plan for r in rows] == ["growth", "growth", "scale"]
    # The CRM row after it now holds billing's facts too, as the account does.
    assert [r.seats_purchased for r in rows] == [40, 12, 12]
    async with factory() as session:
        stored = await accounts_repo.get_account(session, account_id)
        assert stored is not None
        assert (stored.seats_purchased, stored.plan) == (12, "scale")


async def test_the_migration_backfills_one_row_per_existing_account(fresh_database: str) -> None:
    admin = create_engine(fresh_database)
    try:
        async with admin.connect() as conn:
            await conn.run_sync(migrate._run_alembic, "ingest", "downgrade", "ingest_0010")
            await conn.commit()
        async with admin.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO ingest.accounts (external_id, name, motion_segment,"
                    " billing_period, mrr_minor, currency, seats_purchased, status,"
                    " renewal_date, updated_at) VALUES ('old-1', 'Old', 'smb', 'annual', 500,"
                    " 'USD', 3, 'active', '2030-01-01', '2026-06-01T00:00:00Z')"
                )
            )
        await migrate.upgrade(fresh_database)
        async with admin.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT account_id, source, effective_at, mrr_minor, renewal_date,"
                        " cancel_intent, changes FROM ingest.account_history"
                    )
                )
            ).all()
    finally:
        await admin.dispose()
    ((account_id, source, effective_at, mrr, renewal, cancel_intent, changes),) = rows
    assert (account_id, source, mrr, cancel_intent) == ("old-1", "backfill", 500, False)
    assert effective_at == datetime(2026, 6, 1, tzinfo=UTC)
    assert renewal.isoformat() == "2030-01-01"
    assert changes["renewal_date"] == {"old": None, "new": "2030-01-01"}
    assert changes["plan"] == {"old": None, "new": None}
    assert changes["mrr_minor"] == {"old": None, "new": 500}
