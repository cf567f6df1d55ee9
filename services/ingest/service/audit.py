"""The audit log: what people changed in ingest (sources, the event map) and did by hand
(replays, rebuilds), by whom, newest first."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.models import AuditRecord
from services.ingest.repository import audit as repo
from services.ingest.repository.audit import Position
from shared.audit import AuditFilter
from shared.contracts import AuditEntry
from shared.errors import check_range
from shared.pagination import Page, PageRequest

__all__ = ["Position", "list_audit", "record"]


def record(
    session: AsyncSession, principal: str, kind: str, subject: str, detail: dict[str, Any]
) -> None:
    """Record that ``principal`` made a change (``kind``, e.g. ``source.rotated``) to
    ``subject``, in the transaction that makes it; ``detail`` as JSON (never a secret)."""
    repo.add_record(session, principal, kind, subject, detail)


async def list_audit(
    session: AsyncSession, where: AuditFilter, page: PageRequest[Position]
) -> Page[AuditEntry]:
    """Sources created, rotated and disabled, event map versions, replays and rebuilds,
    newest first, narrowed by principal and time."""
    check_range(where.since, where.until)
    rows = await repo.list_records(session, where, before=page.after, limit=page.limit + 1)

    def entry(row: AuditRecord) -> AuditEntry:
        return AuditEntry(
            at=row.at,
            service="ingest",
            kind=row.kind,
            principal=row.principal,
            subject=row.subject,
            summary=None,
            detail=row.detail,
        )

    return page.page(rows, entry, lambda r: (r.at, r.id))
