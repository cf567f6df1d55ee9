"""The audit log: every change to programs and offers, by whom, newest first."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.offers.repository import audit as repo
from services.offers.repository.audit import Position
from shared.audit import AuditFilter
from shared.contracts import AuditEntry
from shared.errors import check_range
from shared.pagination import Page, PageRequest

__all__ = ["AuditFilter", "Position", "list_audit"]


async def list_audit(
    session: AsyncSession, where: AuditFilter, page: PageRequest[Position]
) -> Page[AuditEntry]:
    """Program events (created, edited, approved, status) and offer events (proposed, each
    approval, rejected, revoked, issued, ...) newest first, narrowed by principal and time."""
    check_range(where.since, where.until)
    rows = await repo.list_events(session, where, before=page.after, limit=page.limit + 1)

    def entry(row: Row[Any]) -> AuditEntry:
        noun = "offer" if row.source == 1 else "program"
        return AuditEntry(
            at=row.at,
            service="offers",
            kind=f"{noun}.{row.event}",
            principal=row.principal,
            subject=row.subject,
            summary=row.summary,
            detail={k: v for k, v in (row.detail or {}).items() if v is not None},
        )

    return page.page(rows, entry, lambda r: (r.at, r.source, r.id))
