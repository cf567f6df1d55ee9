"""Housekeeping: expired lots swept to breakage, idempotency keys forgotten after retention."""

from __future__ import annotations

from datetime import timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ledger.group_writer import GroupWriter
from services.ledger.rendering import utc_now
from services.ledger.repository import idempotency as repo
from services.ledger.service.expirations import expire_due
from shared.db import unit_of_work

_log = structlog.get_logger("tenure.ledger")


async def sweep(
    factory: async_sessionmaker[AsyncSession], writer: GroupWriter, retention_days: int
) -> None:
    """One round: expire what is due now, then forget keys older than the retention."""
    now = utc_now()
    run = await expire_due(factory, writer, now)
    async with unit_of_work(factory) as session:
        forgotten = await repo.delete_keys_before(session, now - timedelta(days=retention_days))
    _log.info("housekeeping", expired_lots=run.expired_lots, keys_forgotten=forgotten)
