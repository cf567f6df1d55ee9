"""The finance page's tables from the ledger's reports (pure): liability summed by program,
tier and age, credit expiring, and grants, redemptions and breakage by month. The ledger
computes every amount; this only groups its rows and words the charts."""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from markupsafe import Markup

from services.console.domain import charts
from services.console.domain.formatting import money

# The ledger's age buckets (days since grant), youngest first.
AGE_ORDER = ("0-29", "30-59", "60-89", "90+")
# The charts show the last twelve months that have any figure; the tables show every month.
CHART_MONTHS = 12
NONE = "(none)"

Table = Literal[
    "liability-by-program", "liability-by-tier", "liability-by-age", "expiring", "monthly"
]
TABLES: tuple[Table, ...] = (
    "liability-by-program",
    "liability-by-tier",
    "liability-by-age",
    "expiring",
    "monthly",
)


LiabilityField = Literal["program_id", "tier", "age"]
# The liability tables and the report field each groups by.
LIABILITY_BY: dict[Table, LiabilityField] = {
    "liability-by-program": "program_id",
    "liability-by-tier": "tier",
    "liability-by-age": "age",
}


@dataclass(frozen=True)
class Row:
    """One row of a table: what it is of (unit, then a program, tier, age or month) and its
    amounts, all integer minor units."""

    unit: str
    key: str
    amounts: tuple[int, ...]


def _age_order(key: tuple[str, str]) -> tuple[str, int]:
    unit, age = key
    return unit, AGE_ORDER.index(age) if age in AGE_ORDER else len(AGE_ORDER)


def _name_order(key: tuple[str, str]) -> tuple[str, bool, str]:
    unit, name = key
    return unit, name == NONE, name


def month_label(month: str) -> str:
    """A bar's label: ``2026-11`` as ``Nov`` (the text alternative gives the year)."""
    try:
        return calendar.month_abbr[int(month[5:7])]
    except (ValueError, IndexError):
        return month


def liability_by(
    rows: Sequence[dict[str, Any]], field: Literal["program_id", "tier", "age"]
) -> list[Row]:
    """The liability report's rows summed by unit and one of program, tier or age; ages in
    their order, programs and tiers by name (credit of no program or tier as ``(none)``)."""
    sums: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        sums[(str(row["unit"]), str(row.get(field) or NONE))] += int(row["amount"])
    order = _age_order if field == "age" else _name_order
    return [Row(unit, key, (sums[(unit, key)],)) for unit, key in sorted(sums, key=order)]


def expiring_rows(rows: Sequence[dict[str, Any]]) -> list[Row]:
    """The expiring report as rows: unit, then within 30, 60 and 90 days."""
    return [
        Row(
            str(r["unit"]),
            str(r["unit"]),
            (int(r["within_30_days"]), int(r["within_60_days"]), int(r["within_90_days"])),
        )
        for r in sorted(rows, key=lambda r: str(r["unit"]))
    ]


def monthly_rows(
    grants: Sequence[dict[str, Any]],
    redemptions: Sequence[dict[str, Any]],
    breakage: Sequence[dict[str, Any]],
) -> list[Row]:
    """Granted, redeemed and expired unused (breakage) by unit and month, oldest month first
    (grants and breakage come by program: summed here)."""
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for column, report in enumerate((grants, redemptions, breakage)):
        for row in report:
            sums[(str(row["unit"]), str(row["month"]))][column] += int(row["amount"])
    return [Row(unit, month, tuple(sums[(unit, month)])) for unit, month in sorted(sums)]


def totals(rows: Sequence[Row]) -> dict[str, tuple[int, ...]]:
    """Each unit's column totals."""
    found: dict[str, list[int]] = {}
    for row in rows:
        column = found.setdefault(row.unit, [0] * len(row.amounts))
        for i, amount in enumerate(row.amounts):
            column[i] += amount
    return {unit: tuple(amounts) for unit, amounts in found.items()}


@dataclass(frozen=True)
class MonthChart:
    """A bar chart of one unit's monthly figure, with its text alternative."""

    unit: str
    title: str
    chart: Markup
    text: str


def month_charts(rows: Sequence[Row], column: int, what: str) -> list[MonthChart]:
    """One bar chart per unit of column ``column`` (``what``: "Redeemed") over the last
    months, each with a text alternative that gives every bar's figure."""
    by_unit: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_unit[row.unit].append(row)
    found = []
    for unit in sorted(by_unit):
        recent = by_unit[unit][-CHART_MONTHS:]
        values = [(month_label(r.key), r.amounts[column]) for r in recent]
        spoken = "; ".join(f"{r.key}: {money(r.amounts[column], unit)}" for r in recent)
        text = f"{what} by month, {unit}, {recent[0].key} to {recent[-1].key}: {spoken}."
        found.append(MonthChart(unit, f"{what}, {unit}", charts.bars(values, text), text))
    return found


# Each table's CSV: its header and how a row reads in it (amounts as integer minor units).
HEADERS: dict[Table, tuple[str, ...]] = {
    "liability-by-program": ("unit", "program_id", "outstanding_minor"),
    "liability-by-tier": ("unit", "tier", "outstanding_minor"),
    "liability-by-age": ("unit", "age_days", "outstanding_minor"),
    "expiring": ("unit", "within_30_days_minor", "within_60_days_minor", "within_90_days_minor"),
    "monthly": ("unit", "month", "granted_minor", "redeemed_minor", "breakage_minor"),
}


def csv_rows(table: Table, rows: Sequence[Row]) -> list[tuple[Any, ...]]:
    """A table's rows as its CSV lays them out."""
    if table == "expiring":
        return [(r.unit, *r.amounts) for r in rows]
    return [(r.unit, r.key, *r.amounts) for r in rows]
