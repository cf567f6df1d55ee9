"""Accounts from the CRM."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.repository import accounts as accounts_repo
from services.ingest.schemas.accounts import AccountBatchItem, AccountFields, AccountIn, AccountOut
from services.ingest.schemas.batches import BatchUpsertResult
from services.ingest.service.billing import apply_pending_webhooks
from services.ingest.service.changes import notify_changed
from services.ingest.service.history import upsert_recorded
from shared.errors import NotFound
from shared.pagination import Page, PageRequest

Position = tuple[datetime, str]  # (updated_at, external_id)


async def upsert_account(
    session: AsyncSession, external_id: str, fields: AccountFields
) -> tuple[AccountOut, bool]:
    """Create or replace one account, recording what changed; returns it and whether it
    was created."""
    values = {"external_id": external_id, **fields.model_dump(exclude={"effective_at"})}
    effective_at = fields.effective_at if isinstance(fields, AccountIn) else None
    created = (await upsert_recorded(session, [(values, effective_at)]))[external_id]
    notify_changed(session, {external_id})
    await apply_pending_webhooks(session, [external_id])
    account = await accounts_repo.get_account(session, external_id)
    assert account is not None
    await session.refresh(account)  # the upsert ran as SQL: a loaded copy may be older
    return AccountOut.model_validate(account), created


async def upsert_accounts(
    session: AsyncSession, items: Sequence[AccountBatchItem]
) -> BatchUpsertResult:
    """Create or replace a batch of accounts in one transaction, recording what changed.

    An account given more than once is taken version by version in effective order (the
    last one among equal times last); the newest is what it holds.
    """
    versions = [(item.model_dump(exclude={"effective_at"}), item.effective_at) for item in items]
    flags = await upsert_recorded(session, versions)
    notify_changed(session, set(flags))
    await apply_pending_webhooks(session, sorted(flags))
    created = sum(flags.values())
    return BatchUpsertResult(created=created, updated=len(flags) - created)


async def get_account(session: AsyncSession, external_id: str) -> AccountOut:
    """One account."""
    account = await accounts_repo.get_account(session, external_id)
    if account is None:
        raise NotFound(f"No account '{external_id}'.")
    return AccountOut.model_validate(account)


async def list_accounts(
    session: AsyncSession,
    page: PageRequest[Position],
    *,
    status: str | None,
    motion_segment: str | None,
    updated_since: datetime | None,
) -> Page[AccountOut]:
    """Accounts in order of last update, filtered by status, motion segment, update time."""
    rows = await accounts_repo.list_accounts(
        session,
        status=status,
        motion_segment=motion_segment,
        updated_since=updated_since,
        after=page.after,
        limit=page.limit + 1,
    )
    return page.page(rows, AccountOut.model_validate, lambda r: (r.updated_at, r.external_id))
