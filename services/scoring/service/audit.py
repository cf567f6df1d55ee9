"""The audit log: scorecard versions and colour overrides, by whom, newest first."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.repository import audit as repo
from services.scoring.repository.audit import Position
from shared.audit import AuditFilter
from shared.contracts import AuditEntry
from shared.errors import check_range
from shared.pagination import Page, PageRequest

__all__ = ["AuditFilter", "Position", "list_audit"]
_KINDS = {0: "scorecard.version", 1: "override.set", 2: "override.cleared"}


async def list_audit(
    session: AsyncSession, where: AuditFilter, page: PageRequest[Position]
) -> Page[AuditEntry]:
    """Scorecard versions saved and colour overrides set and cleared (by hand, or by their
    expiry: ``service:scoring``), newest first, narrowed by principal and time."""
    check_range(where.since, where.until)
    rows = await repo.list_changes(session, where, before=page.after, limit=page.limit + 1)

    def entry(row: Row[Any]) -> AuditEntry:
        return AuditEntry(
            at=row.at,
            service="scoring",
            kind=_KINDS[row.source],
            principal=row.principal,
            subject=row.subject,
            summary=row.summary,
            detail=dict(row.detail or {}),
        )

    return page.page(rows, entry, lambda r: (r.at, r.source, r.key))
