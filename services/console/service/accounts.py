"""The accounts list and its CSV: scoring's filtered scores, one page of its cursor at a time.

Every column the list shows (name, colour, health, segment, tier, motion, renewal, MRR) is in
scoring's snapshot, which carries the name ingest gave it: a page is one call, never one per
row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.console.api.deps import Person
from services.console.domain.accounts import AccountFilters, csv_row
from services.console.platform import Platform
from services.console.service.panels import Panel, items, panel

PAGE_SIZE = 50
# The CSV reads scoring's pages of its largest size, up to this many rows (a bigger export
# is a job for the API itself, not a download).
CSV_BATCH = 500
CSV_CAP = 20_000


@dataclass
class AccountList:
    """One page of the filtered list and the cursor of the next."""

    filters: AccountFilters
    rows: Panel[list[dict[str, Any]]]
    next_cursor: str | None
    cursor: str | None


async def _scores(
    platform: Platform, person: Person, filters: AccountFilters, cursor: str | None, limit: int
) -> dict[str, Any]:
    page: dict[str, Any] = await platform.get(
        "scoring", "/v1/scores", person.key, **filters.api_params(), cursor=cursor, limit=limit
    )
    return page


async def account_list(
    platform: Platform, person: Person, filters: AccountFilters, cursor: str | None
) -> AccountList:
    """One page of accounts matching ``filters``, from ``cursor`` (the first when None)."""
    found = await panel(_scores(platform, person, filters, cursor, PAGE_SIZE))
    rows = Panel(items(found.data), found.down, found.refused, found.status)
    following = found.data.get("next_cursor") if found.data else None
    return AccountList(filters, rows, following, cursor)


@dataclass(frozen=True)
class CsvExport:
    """The CSV's rows, and whether the cap cut it short."""

    rows: list[list[Any]]
    truncated: bool


async def account_csv(platform: Platform, person: Person, filters: AccountFilters) -> CsvExport:
    """Every account matching ``filters`` as CSV rows (up to ``CSV_CAP``), read in batches
    of ``CSV_BATCH`` along scoring's cursor; ``ServiceDown`` or ``ApiProblem`` as it came."""
    rows: list[list[Any]] = []
    cursor: str | None = None
    while True:
        page = await _scores(platform, person, filters, cursor, CSV_BATCH)
        rows.extend(csv_row(s) for s in items(page))
        cursor = page.get("next_cursor")
        if cursor is None:
            return CsvExport(rows[:CSV_CAP], len(rows) > CSV_CAP)
        if len(rows) >= CSV_CAP:
            return CsvExport(rows[:CSV_CAP], True)
