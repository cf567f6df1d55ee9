"""Every service's audit log narrows the same way: by who and by when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.sql import Select


@dataclass(frozen=True)
class AuditFilter:
    """What an audit log is narrowed to (None: any)."""

    principal: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def narrowed(query: Select[Any], at: Any, principal: Any, where: AuditFilter) -> Select[Any]:
    """``query`` of changes made at ``at`` by ``principal``, narrowed as ``where`` says
    (``from`` inclusive, ``to`` exclusive)."""
    if where.principal is not None:
        query = query.where(principal == where.principal)
    if where.since is not None:
        query = query.where(at >= where.since)
    if where.until is not None:
        query = query.where(at < where.until)
    return query
