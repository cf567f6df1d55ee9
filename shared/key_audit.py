"""The key store's audit log: every key made and ended, by whom, newest first.

Served by every service (``GET /v1/api-keys/audit``, admin only) as the key store is one for
the platform; the console merges it with the services' own logs. A console sign-in makes a
session key and sign-out ends it, so they are listed as ``session.started`` and
``session.ended``; a key that merely expired is no one's change and is not listed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from shared.audit import AuditFilter, narrowed
from shared.auth import ApiKey
from shared.contracts import AuditEntry
from shared.errors import check_range
from shared.pagination import Page, PageRequest

# A change's place in the log: (at, change, key id); change 1 for an ending, 0 for a making.
Position = tuple[datetime, int, uuid.UUID]
# Who made or ended a key before the store recorded it (migration auth_0004): a label no
# principal can be named (principals hold no spaces or brackets), found by the principal
# filter like any name.
UNRECORDED = "(not recorded)"


def kind_of(change: int, expires: bool) -> str:
    """What a change of a key is called: a key made or revoked, or a session's key (one
    that expires) started at sign-in or ended at sign-out."""
    noun, verbs = ("session", ("started", "ended")) if expires else ("key", ("created", "revoked"))
    return f"{noun}.{verbs[change]}"


async def list_key_audit(
    session: AsyncSession, where: AuditFilter, page: PageRequest[Position]
) -> Page[AuditEntry]:
    """Keys made and ended newest first (by time, endings before makings at one instant,
    then id), narrowed by who did it and when."""
    check_range(where.since, where.until)
    made_by = func.coalesce(ApiKey.created_by, UNRECORDED)
    ended_by = func.coalesce(ApiKey.revoked_by, UNRECORDED)
    made = select(
        ApiKey.created_at.label("at"),
        literal(0).label("change"),
        ApiKey.id.label("id"),
        made_by.label("by"),
    )
    ended = select(ApiKey.revoked_at, literal(1), ApiKey.id, ended_by).where(
        ApiKey.revoked_at.is_not(None)
    )
    made = narrowed(made, ApiKey.created_at, made_by, where)
    ended = narrowed(ended, ApiKey.revoked_at, ended_by, where)
    both = union_all(made, ended).subquery()
    query = (
        select(both, ApiKey)
        .join(ApiKey, ApiKey.id == both.c.id)
        .order_by(both.c.at.desc(), both.c.change.desc(), both.c.id.desc())
    )
    if page.after is not None:
        query = query.where(func.row(both.c.at, both.c.change, both.c.id) < func.row(*page.after))
    rows = (await session.execute(query.limit(page.limit + 1))).all()

    def entry(row: Row[Any]) -> AuditEntry:
        key: ApiKey = row.ApiKey
        detail: dict[str, Any] = {"key_id": str(key.id), "scopes": list(key.scopes)}
        if key.expires_at is not None:
            detail["expires_at"] = key.expires_at.isoformat()
        return AuditEntry(
            at=row.at,
            service="keys",
            kind=kind_of(row.change, key.expires_at is not None),
            principal=row.by,
            subject=f"key {key.display_prefix} of {key.principal}",
            summary=None,
            detail=detail,
        )

    return page.page(rows, entry, lambda r: (r.at, r.change, r.id))
