"""A CRM upsert replaces the stored fields ``domain.billing.crm_sets`` says it may."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ingest.domain.billing import BILLING_OWNED_FIELDS, crm_sets
from services.ingest.models import Account
from services.ingest.repository import accounts as accounts_repo
from shared.db import create_engine, service_url, session_factory


@pytest.fixture
async def factory(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(service_url(database_url, "ingest"))
    yield session_factory(engine)
    await engine.dispose()


def fields(version: int) -> dict[str, Any]:
    """A value for every field a CRM upsert writes, different in each version (and valid
    mixed: either renewal date is after either contract start)."""
    return {
        "name": f"Acme {version}",
        "industry": f"industry {version}",
        "region": f"region {version}",
        "motion_segment": ("smb", "enterprise")[version],
        "plan": f"plan {version}",
        "billing_period": ("monthly", "annual")[version],
        "mrr_minor": 1000 + version,
        "currency": ("EUR", "USD")[version],
        "seats_purchased": 10 + version,
        "contract_start": date(2026, 1 + version, 1),
        "renewal_date": date(2027, 6 - version, 1),
        "status": ("trial", "active")[version],
        "champion_user_id": f"user {version}",
        "stripe_customer_id": f"cus_{uuid.uuid4().hex}",
        "cancel_intent": bool(version),
    }


@pytest.mark.parametrize("billing_reported", [False, True])
async def test_a_crm_upsert_replaces_exactly_the_fields_the_rule_lets_it(
    factory: async_sessionmaker[AsyncSession], billing_reported: bool
) -> None:
    assert set(fields(0)) == set(accounts_repo.ACCOUNT_FIELDS) >= BILLING_OWNED_FIELDS
    account_id = f"crm-{uuid.uuid4().hex[:10]}"
    before, sent = fields(0), fields(1)
    billing_updated_at = datetime(2026, 11, 1, tzinfo=UTC) if billing_reported else None
    async with factory() as session:
        assert await accounts_repo.upsert_accounts(
            session, [{"external_id": account_id, **before}]
        ) == [True]
        await session.execute(
            update(Account)
            .where(Account.external_id == account_id)
            .values(billing_updated_at=billing_updated_at)
        )
        assert await accounts_repo.upsert_accounts(
            session, [{"external_id": account_id, **sent}]
        ) == [False]
        stored = await accounts_repo.get_account(session, account_id)
        assert stored is not None
        await session.refresh(stored)
        expected = {
            f: sent[f] if crm_sets(f, billing_updated_at) else before[f]
            for f in accounts_repo.ACCOUNT_FIELDS
        }
        assert {f: getattr(stored, f) for f in accounts_repo.ACCOUNT_FIELDS} == expected
        await session.rollback()
