"""The finance page: the ledger's reports (liability, expiring credit, grants, redemptions,
breakage) asked at once as this person, the audit for whoever may run it, and each table
as CSV."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from services.console.api.deps import Person
from services.console.domain import finance as shape
from services.console.platform import Platform
from services.console.service.panels import Panel, panel

# The ledger's audit recomputes every chain: only an admin key may run it.
AUDIT_SCOPE = "admin"


@dataclass
class FinanceView:
    """The finance page's tables, each from its report (or why it is missing)."""

    liability: Panel[dict[str, Any]]
    expiring: Panel[list[dict[str, Any]]]
    monthly: Panel[list[shape.Row]]
    may_audit: bool
    tables: dict[str, list[shape.Row]] = field(default_factory=dict)

    def totals(self, table: str) -> dict[str, tuple[int, ...]]:
        """A table's totals by unit."""
        return shape.totals(self.tables.get(table, []))

    def charts(self, column: int, what: str) -> list[shape.MonthChart]:
        """Bar charts of one monthly column, one per unit."""
        return shape.month_charts(self.monthly.data or [], column, what)


async def _report(platform: Platform, person: Person, name: str) -> Any:
    return await platform.get("ledger", f"/v1/reports/{name}", person.key)


async def _monthly(platform: Platform, person: Person) -> list[shape.Row]:
    grants, redemptions, breakage = await asyncio.gather(
        *(_report(platform, person, n) for n in ("grants", "redemptions", "breakage"))
    )
    return shape.monthly_rows(grants["rows"], redemptions["rows"], breakage["rows"])


async def finance(platform: Platform, person: Person) -> FinanceView:
    """Every report the page shows, asked of the ledger at once."""
    liability, expiring, monthly = await asyncio.gather(
        panel(_report(platform, person, "liability")),
        panel(_report(platform, person, "expiring")),
        panel(_monthly(platform, person)),
    )
    view = FinanceView(liability, expiring, monthly, person.may(AUDIT_SCOPE))
    rows = (liability.data or {}).get("rows") or []
    view.tables = {t: shape.liability_by(rows, f) for t, f in shape.LIABILITY_BY.items()}
    view.tables["expiring"] = shape.expiring_rows(expiring.data or [])
    view.tables["monthly"] = monthly.data or []
    return view


async def table(platform: Platform, person: Person, name: shape.Table) -> list[shape.Row]:
    """One table's rows, from the one report it is made of (the ledger down or refusing
    raises, for the error page)."""
    if name == "monthly":
        return await _monthly(platform, person)
    if name == "expiring":
        return shape.expiring_rows(await _report(platform, person, "expiring"))
    rows = (await _report(platform, person, "liability"))["rows"]
    return shape.liability_by(rows, shape.LIABILITY_BY[name])


async def audit(platform: Platform, person: Person) -> Panel[dict[str, Any]] | None:
    """The ledger's audit, run now, for a person who may; None for anyone else."""
    if not person.may(AUDIT_SCOPE):
        return None
    return await panel(platform.get("ledger", "/v1/audit/verify", person.key))
