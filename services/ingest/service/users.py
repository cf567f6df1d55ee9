"""Users from the CRM, and attributing their pending events once linked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.repository import accounts as accounts_repo
from services.ingest.repository import events as events_repo
from services.ingest.repository import users as users_repo
from services.ingest.schemas.batches import RejectedItem
from services.ingest.schemas.users import UserBatchItem, UserBatchResult, UserFields, UserOut
from services.ingest.service.changes import notify_changed
from services.ingest.service.config import current_event_map
from services.ingest.service.preconditions import require_account
from shared.errors import NotFound
from shared.pagination import Page, PageRequest

Position = tuple[datetime, str]  # (updated_at, external_id)


async def upsert_user(
    session: AsyncSession, external_id: str, fields: UserFields
) -> tuple[UserOut, bool]:
    """Create or replace one user; linking it to an account attributes its pending events.

    A link to an account that does not exist is refused: attributing the user's events to
    it could not be undone.
    """
    if fields.account_id is not None:
        await require_account(session, fields.account_id)
    (created,) = await users_repo.upsert_users(
        session, [{"external_id": external_id, **fields.model_dump()}]
    )
    if fields.account_id is not None:
        await attribute_pending_events(session, {external_id: fields.account_id})
    user = await users_repo.get_user(session, external_id)
    assert user is not None
    await session.refresh(user)
    return UserOut.model_validate(user), created


async def upsert_users(session: AsyncSession, items: Sequence[UserBatchItem]) -> UserBatchResult:
    """Create or replace a batch of users in one transaction (last one wins per id).

    An item linking to an account that does not exist is refused on its own; the others
    are applied.
    """
    known = await accounts_repo.existing_account_ids(
        session, {i.account_id for i in items if i.account_id is not None}
    )
    refused = [
        RejectedItem(
            index=index,
            id=item.external_id,
            reason=f"unknown account '{item.account_id}'",
            field="account_id",
        )
        for index, item in enumerate(items)
        if item.account_id is not None and item.account_id not in known
    ]
    skipped = {r.index for r in refused}
    latest = {
        item.external_id: item.model_dump()
        for index, item in enumerate(items)
        if index not in skipped
    }
    flags = await users_repo.upsert_users(session, list(latest.values())) if latest else []
    links = {u: f["account_id"] for u, f in latest.items() if f["account_id"] is not None}
    await attribute_pending_events(session, links)
    created = sum(flags)
    return UserBatchResult(created=created, updated=len(flags) - created, rejected=refused)


async def attribute_pending_events(session: AsyncSession, links: dict[str, str]) -> None:
    """Attribute newly linked users' pending events to their accounts and roll them up."""
    if links:
        event_map = await current_event_map(session)
        notify_changed(session, await events_repo.attribute_pending(session, links, event_map))


async def get_user(session: AsyncSession, external_id: str) -> UserOut:
    """One user."""
    user = await users_repo.get_user(session, external_id)
    if user is None:
        raise NotFound(f"No user '{external_id}'.")
    return UserOut.model_validate(user)


async def list_users(
    session: AsyncSession,
    page: PageRequest[Position],
    *,
    account_id: str | None,
    updated_since: datetime | None,
) -> Page[UserOut]:
    """Users in order of last update, optionally of one account."""
    rows = await users_repo.list_users(
        session,
        account_id=account_id,
        updated_since=updated_since,
        after=page.after,
        limit=page.limit + 1,
    )
    return page.page(rows, UserOut.model_validate, lambda r: (r.updated_at, r.external_id))
