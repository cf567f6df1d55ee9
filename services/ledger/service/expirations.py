"""Expiry runs: every lot past its date swept to breakage, once."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ledger.domain.writes import Expiry, WriteOp
from services.ledger.group_writer import GroupWriter
from services.ledger.repository import lots as lots_repo
from services.ledger.schemas import (
    ExpirationRunOut,
)


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
            due = await lots_repo.due_accounts(session, as_of, _EXPIRY_GROUP)
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


_EXPIRY_GROUP = 200
