"""Accounts' SQL: CRM upserts, lookups and the locks billing updates take."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.domain.billing import BILLING_OWNED_FIELDS
from services.ingest.models import Account
from shared.arrays import text_array

ACCOUNT_FIELDS = (
    "name",
    "industry",
    "region",
    "motion_segment",
    "plan",
    "billing_period",
    "mrr_minor",
    "currency",
    "seats_purchased",
    "contract_start",
    "renewal_date",
    "status",
    "champion_user_id",
    "stripe_customer_id",
    "cancel_intent",
)


async def upsert_accounts(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> list[bool]:
    """Insert or update accounts by external id; returns, per row, whether it was created.

    Which stored fields a CRM value replaces is ``domain.billing.crm_sets``, done here in the
    statement (tests/db/test_account_upserts.py checks the two agree): fields in
    ``BILLING_OWNED_FIELDS`` keep their stored value on accounts the billing system has
    reported for (``billing_updated_at`` set).
    """
    stmt = insert(Account).values(list(rows))
    columns = Account.__table__.c

    def taken(name: str) -> Any:
        if name not in BILLING_OWNED_FIELDS:
            return stmt.excluded[name]
        return case(
            (columns.billing_updated_at.is_(None), stmt.excluded[name]), else_=columns[name]
        )

    upsert = stmt.on_conflict_do_update(
        index_elements=[Account.external_id],
        set_={**{f: taken(f) for f in ACCOUNT_FIELDS}, "updated_at": func.now()},
    ).returning(text("(xmax = 0) AS created"))
    return list((await session.execute(upsert)).scalars())


async def get_account(session: AsyncSession, external_id: str) -> Account | None:
    """One account, or None."""
    return await session.get(Account, external_id)


async def list_accounts(
    session: AsyncSession,
    *,
    status: str | None,
    motion_segment: str | None,
    updated_since: datetime | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> Sequence[Account]:
    """Accounts in (updated_at, external_id) order, filtered."""
    query = select(Account).order_by(Account.updated_at, Account.external_id).limit(limit)
    if status is not None:
        query = query.where(Account.status == status)
    if motion_segment is not None:
        query = query.where(Account.motion_segment == motion_segment)
    if updated_since is not None:
        query = query.where(Account.updated_at >= updated_since)
    if after is not None:
        query = query.where(
            func.row(Account.updated_at, Account.external_id) > func.row(after[0], after[1])
        )
    return (await session.scalars(query)).all()


async def existing_account_ids(session: AsyncSession, ids: Iterable[str]) -> set[str]:
    """Which of ``ids`` name known accounts."""
    wanted = list(set(ids))
    if not wanted:
        return set()
    rows = await session.scalars(
        select(Account.external_id).where(Account.external_id == func.any(text_array(wanted)))
    )
    return set(rows)


async def account_ids_after(session: AsyncSession, after: str | None, limit: int) -> list[str]:
    """The next ``limit`` account ids in id order."""
    query = select(Account.external_id).order_by(Account.external_id).limit(limit)
    if after is not None:
        query = query.where(Account.external_id > after)
    return list(await session.scalars(query))


async def accounts_by_id(session: AsyncSession, account_ids: Sequence[str]) -> dict[str, Account]:
    """Accounts keyed by external id."""
    rows = await session.scalars(select(Account).where(Account.external_id.in_(list(account_ids))))
    return {a.external_id: a for a in rows}


async def account_by_stripe_customer(session: AsyncSession, customer: str) -> Account | None:
    """The account mapped to a Stripe customer, locked for the billing update."""
    return await session.scalar(
        select(Account).where(Account.stripe_customer_id == customer).with_for_update()
    )


async def account_for_update(session: AsyncSession, external_id: str) -> Account | None:
    """An account, locked until the transaction ends."""
    return await session.scalar(
        select(Account).where(Account.external_id == external_id).with_for_update()
    )


async def stripe_customers_of(session: AsyncSession, account_ids: Sequence[str]) -> list[str]:
    """The Stripe customer ids mapped to these accounts."""
    rows = await session.scalars(
        select(Account.stripe_customer_id).where(
            Account.external_id.in_(list(account_ids)), Account.stripe_customer_id.is_not(None)
        )
    )
    return [r for r in rows if r is not None]
