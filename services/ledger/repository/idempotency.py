"""Idempotency keys, forgotten after their retention."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from services.ledger.models import IdempotencyKey


async def delete_keys_before(session: AsyncSession, cutoff: datetime) -> int:
    """Drop idempotency keys created before ``cutoff``."""
    result = await session.execute(
        delete(IdempotencyKey)
        .where(IdempotencyKey.created_at < cutoff)
        .returning(IdempotencyKey.key)
    )
    return len(result.all())
