"""Checks that writes of several resources share before they change anything."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.repository import accounts as accounts_repo
from shared.errors import UnknownAccount


async def require_account(session: AsyncSession, account_id: str) -> None:
    """Refuse (422, naming ``/account_id``) a write that names an account not known."""
    if not await accounts_repo.existing_account_ids(session, [account_id]):
        raise UnknownAccount.for_field("/account_id", f"unknown account '{account_id}'")
