"""Every service's audit log narrows the same way: by who and by when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.sql import Select

# Any select, whatever its columns.
Query = TypeVar("Query", bound=Select[*tuple[Any, ...]])


@dataclass(frozen=True)
class AuditFilter:
    """What an audit log is narrowed to (None: any)."""

    principal: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def narrowed(query: Query, at: Any, principal: Any, where: AuditFilter) -> Query:
    """``query`` of changes made at ``at`` by ``principal``, narrowed as ``where`` says
    (``from`` inclusive, ``to`` exclusive)."""
    if where.principal is not None:
        query = query.where(principal == where.principal)
    if where.since is not None:
        query = query.where(at >= where.since)
    if where.until is not None:
        query = query.where(at < where.until)
    return query
