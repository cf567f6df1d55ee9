"""The audit log's SQL: what people changed in ingest, newest first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.models import AuditRecord
from shared.audit import AuditFilter, narrowed

# A change's place in the log: (at, id).
Position = tuple[datetime, int]


def add_record(
    session: AsyncSession, principal: str, kind: str, subject: str, detail: dict[str, Any]
) -> None:
    """Record a change, in the transaction that makes it."""
    session.add(AuditRecord(principal=principal, kind=kind, subject=subject, detail=detail))


async def list_records(
    session: AsyncSession, where: AuditFilter, *, before: Position | None, limit: int
) -> Sequence[AuditRecord]:
    """Changes newest first, before ``before``, narrowed by who made them and when."""
    query = narrowed(select(AuditRecord), AuditRecord.at, AuditRecord.principal, where)
    if before is not None:
        query = query.where(func.row(AuditRecord.at, AuditRecord.id) < func.row(*before))
    query = query.order_by(AuditRecord.at.desc(), AuditRecord.id.desc()).limit(limit)
    return (await session.scalars(query)).all()
