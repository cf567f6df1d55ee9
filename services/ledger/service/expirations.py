"""Expiry runs: every lot past its date swept to breakage, once."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ledger.domain.writes import Expiry, WriteOp
from services.ledger.group_writer import GroupWriter
from services.ledger.rendering import utc_now
from services.ledger.repository import lots as repo
from services.ledger.schemas import ExpirationRunOut
from shared.errors import Unprocessable

# Accounts swept per group (one database transaction each).
_EXPIRY_GROUP = 200


async def run_expirations(
    factory: async_sessionmaker[AsyncSession], writer: GroupWriter, as_of: datetime | None
) -> ExpirationRunOut:
    """Expire every lot past its date as of ``as_of`` (now when absent; never in the future)."""
    now = utc_now()
    as_of = as_of or now
    if as_of > now:
        raise Unprocessable.for_field("/as_of", "must not be in the future")
    return await expire_due(factory, writer, as_of)


async def expire_due(
    factory: async_sessionmaker[AsyncSession], writer: GroupWriter, as_of: datetime
) -> ExpirationRunOut:
    """Move the remainder of every lot past expiry to breakage, once.

    Accounts are swept a group at a time (one database transaction each); running again
    finds nothing more to expire.
    """
    lots_expired = 0
    amounts: dict[str, int] = defaultdict(int)
    while True:
        async with factory() as session:
            due = await repo.due_accounts(session, as_of, _EXPIRY_GROUP)
        if not due:
            break
        ops = [WriteOp(Expiry(d.ledger_account_id, d.unit, d.programs, as_of)) for d in due]
        for outcome in await writer.apply(ops):
            if isinstance(outcome, Exception):
                raise outcome
            lots_expired += outcome.body["lots"]
            for unit, amount in outcome.body["amounts"].items():
                amounts[unit] += amount
    return ExpirationRunOut(as_of=as_of, expired_lots=lots_expired, amounts=dict(amounts))
