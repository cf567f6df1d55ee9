"""The audit log: every change of state, merged newest first.

Its sources: offers' log (programs and offers), scoring's (scorecards and overrides),
ingest's (sources, the event map, replays and rebuilds), the key store's (keys made and
revoked, console sign-ins and sign-outs; any service serves it, to admins) and the
console's own (its people, to admins). Each lists its own newest first with its own cursor;
a page here holds one page of each, merged by time, and the next page continues each from
its own cursor, so nothing is skipped or shown twice. (Across a page boundary the order is
each source's: an older page of one may hold changes newer than the last of another's.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from services.console import repository as repo
from services.console.api.deps import Person
from services.console.models import UserEvent
from services.console.platform import Platform
from services.console.service.panels import Panel, items, panel
from shared.audit import AuditFilter
from shared.contracts import AuditEntry
from shared.errors import TenureError, check_range
from shared.pagination import CursorSigner, PageRequest


@dataclass(frozen=True)
class Source:
    """An audit log on a service: which one serves it, where, and the scope to read it."""

    service: str
    path: str
    scope: str


REMOTE = {
    "offers": Source("offers", "/v1/audit", "offers:read"),
    "scoring": Source("scoring", "/v1/audit", "scores:read"),
    "ingest": Source("ingest", "/v1/audit", "ingest:read"),
    "keys": Source("offers", "/v1/api-keys/audit", "admin"),
}
# The console's own log of its people, read from its own schema (admins only).
PEOPLE = "people"
SOURCES = (*REMOTE, PEOPLE)
PAGE = 50
# The most rows a CSV export walks (in pages of 500 from each source).
CSV_CAP = 20_000
_PEOPLE_POSITION: TypeAdapter[repo.EventPosition] = TypeAdapter(repo.EventPosition)


@dataclass(frozen=True)
class AuditQuery:
    """What the log is narrowed to, and where each source's page starts."""

    principal: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    cursors: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> AuditFilter:
        """The narrowing, as every source applies it."""
        return AuditFilter(self.principal, self.since, self.until)

    def params(self, source: str, limit: int) -> dict[str, Any]:
        """The query of ``source``'s audit endpoint."""
        return {
            "principal": self.principal,
            "from": self.since.isoformat() if self.since else None,
            "to": self.until.isoformat() if self.until else None,
            "cursor": self.cursors.get(source),
            "limit": limit,
        }


@dataclass
class AuditView:
    """A page of the merged log, what each source said, where the next page starts, and the
    sources this person may not read."""

    entries: list[dict[str, Any]]
    panels: dict[str, Panel[dict[str, Any]]]
    next_cursors: dict[str, str]
    not_shown: list[str] = field(default_factory=list)


def readable(person: Person) -> list[str]:
    """The sources this person may read."""
    return [s for s in SOURCES if person.may(REMOTE[s].scope if s in REMOTE else "admin")]


async def _remote_page(
    platform: Platform, person: Person, source: str, query: AuditQuery, limit: int
) -> dict[str, Any]:
    where = REMOTE[source]
    page: dict[str, Any] = await platform.get(
        where.service, where.path, person.key, **query.params(source, limit)
    )
    return page


async def people_page(
    session: AsyncSession, signer: CursorSigner, query: AuditQuery, limit: int
) -> dict[str, Any]:
    """A page of the console's own log of its people, as a service's audit page reads (a
    400 for a cursor not made under these filters)."""
    check_range(query.since, query.until)
    # A cursor is bound to the filters it was made under, as the services' cursors are.
    scope = "\n".join((PEOPLE, query.principal or "", str(query.since), str(query.until)))
    after = None
    if cursor := query.cursors.get(PEOPLE):
        after = _PEOPLE_POSITION.validate_python(signer.open(scope, cursor))
    request = PageRequest(after, limit, scope, signer, _PEOPLE_POSITION)
    rows = await repo.list_user_events(session, query.where, before=request.after, limit=limit + 1)

    def entry(row: UserEvent) -> dict[str, Any]:
        return AuditEntry(
            at=row.at,
            service="console",
            kind=f"user.{row.event}",
            principal=row.principal,
            subject=row.name,
            summary=None,
            detail={"roles": list(row.roles)},
        ).model_dump(mode="json")

    return request.page(rows, entry, lambda r: (r.at, r.id)).model_dump(mode="json")


async def _local(call: Awaitable[dict[str, Any]]) -> Panel[dict[str, Any]]:
    # The console's own source refuses as a service would: a bad cursor or range is its 4xx.
    try:
        return Panel(data=await call)
    except TenureError as exc:
        return Panel(refused=exc.detail or exc.title, status=exc.status_code)


async def audit_page(
    platform: Platform,
    session: AsyncSession,
    signer: CursorSigner,
    person: Person,
    query: AuditQuery,
    limit: int = PAGE,
) -> AuditView:
    """One page of each source this person may read (those not finished), merged newest
    first."""
    shown = readable(person)
    wanted = [s for s in shown if not query.cursors or s in query.cursors]
    remote = [s for s in wanted if s in REMOTE]
    pages = list(
        await asyncio.gather(
            *(panel(_remote_page(platform, person, s, query, limit)) for s in remote)
        )
    )
    panels = dict(zip(remote, pages, strict=True))
    if PEOPLE in wanted:
        # After the others: the session is not shared between concurrent calls.
        panels[PEOPLE] = await _local(people_page(session, signer, query, limit))
    entries = [e for p in panels.values() for e in items(p.data)]
    entries.sort(key=lambda e: str(e["at"]), reverse=True)
    following = {
        s: str(p.data["next_cursor"])
        for s, p in panels.items()
        if p.data and p.data.get("next_cursor")
    }
    return AuditView(entries, panels, following, [s for s in SOURCES if s not in shown])


async def audit_rows(
    platform: Platform,
    session: AsyncSession,
    signer: CursorSigner,
    person: Person,
    query: AuditQuery,
) -> list[dict[str, Any]]:
    """Every entry the query selects (up to ``CSV_CAP``), newest first, for a CSV export."""
    rows: list[dict[str, Any]] = []
    current = query
    while len(rows) < CSV_CAP:
        view = await audit_page(platform, session, signer, person, current, limit=500)
        rows += view.entries
        if not view.next_cursors:
            break
        current = AuditQuery(query.principal, query.since, query.until, view.next_cursors)
    rows.sort(key=lambda e: str(e["at"]), reverse=True)
    return rows[:CSV_CAP]
