"""The audit log: every service's changes of state, merged newest first.

Each service lists its own (``GET /v1/audit``, newest first, with its own cursor); a page
here holds one page of each, merged by time, and the next page continues each service from
its own cursor, so nothing is skipped or shown twice. (Across a page boundary the order is
each service's: an older page of one may hold changes newer than the last of another's.)
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.console.api.deps import Person
from services.console.platform import Platform
from services.console.service.panels import Panel, items, panel

# The services that keep an audit log, and the scope reading it takes.
SOURCES = {"offers": "offers:read", "scoring": "scores:read"}
PAGE = 50
# The most rows a CSV export walks (in pages of 500 from each service).
CSV_CAP = 20_000


@dataclass(frozen=True)
class AuditQuery:
    """What the log is narrowed to, and where each service's page starts."""

    principal: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    cursors: dict[str, str] = field(default_factory=dict)

    def params(self, service: str, limit: int) -> dict[str, Any]:
        """The query of ``service``'s audit endpoint."""
        return {
            "principal": self.principal,
            "from": self.since.isoformat() if self.since else None,
            "to": self.until.isoformat() if self.until else None,
            "cursor": self.cursors.get(service),
            "limit": limit,
        }


@dataclass
class AuditView:
    """A page of the merged log, what each service said, and where the next page starts."""

    entries: list[dict[str, Any]]
    panels: dict[str, Panel[dict[str, Any]]]
    next_cursors: dict[str, str]


async def _page(
    platform: Platform, person: Person, service: str, query: AuditQuery, limit: int
) -> dict[str, Any]:
    page: dict[str, Any] = await platform.get(
        service, "/v1/audit", person.key, **query.params(service, limit)
    )
    return page


async def audit_page(
    platform: Platform, person: Person, query: AuditQuery, limit: int = PAGE
) -> AuditView:
    """One page of each service's log (those not finished), merged newest first."""
    wanted = [s for s in SOURCES if not query.cursors or s in query.cursors]
    pages = await asyncio.gather(*(panel(_page(platform, person, s, query, limit)) for s in wanted))
    panels = dict(zip(wanted, pages, strict=True))
    entries = [e for p in pages for e in items(p.data)]
    entries.sort(key=lambda e: str(e["at"]), reverse=True)
    following = {
        s: str(p.data["next_cursor"])
        for s, p in panels.items()
        if p.data and p.data.get("next_cursor")
    }
    return AuditView(entries, panels, following)


async def audit_rows(platform: Platform, person: Person, query: AuditQuery) -> list[dict[str, Any]]:
    """Every entry the query selects (up to ``CSV_CAP``), newest first, for a CSV export."""
    rows: list[dict[str, Any]] = []
    current = query
    while len(rows) < CSV_CAP:
        view = await audit_page(platform, person, current, limit=500)
        rows += view.entries
        if not view.next_cursors:
            break
        current = AuditQuery(query.principal, query.since, query.until, view.next_cursors)
    rows.sort(key=lambda e: str(e["at"]), reverse=True)
    return rows[:CSV_CAP]
