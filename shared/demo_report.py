"""What ``tenure demo`` prints at the end: read back from the services' APIs, never from what
the demo thinks it sent."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from shared.demo import Options, Run, run_demo
from shared.demo_book import ACCOUNT_PREFIX
from shared.demo_client import Api, api

COLOURS = ("green", "yellow", "red", "unscored")
MOTIONS = ("smb", "mid_market", "enterprise")


@dataclass
class Budget:
    """A program's budget: what its offers hold against it, and its cap."""

    offers: int
    committed_minor: int
    cap_minor: int | None


@dataclass
class Report:
    """The platform's account of the demo book."""

    scores: Counter[tuple[str, str]] = field(default_factory=Counter)  # (colour, segment)
    offers: Counter[tuple[str, str]] = field(default_factory=Counter)  # (program, state)
    budgets: dict[str, Budget] = field(default_factory=dict)
    liability: dict[str, Any] = field(default_factory=dict)
    backtests: dict[str, dict[str, Any]] = field(default_factory=dict)


async def gather(scoring: Api, offers: Api, ledger: Api) -> Report:
    """Read the demo accounts' scores and offers, every program's budget (platform-wide:
    a budget is the program's, whoever its offers went to), the ledger's liability and each
    motion's back-test."""
    report = Report()
    async for snapshot in scoring.walk("/v1/scores"):
        if snapshot["account_id"].startswith(ACCOUNT_PREFIX):
            colour = snapshot["colour"] or "unscored"
            report.scores[(colour, snapshot["segment"])] += 1
    held: Counter[str] = Counter()
    counted: Counter[str] = Counter()
    async for offer in offers.walk("/v1/offers"):
        if offer["account_id"].startswith(ACCOUNT_PREFIX):
            report.offers[(offer["program_id"], offer["state"])] += 1
        if "program" in offer["budget_scopes"]:
            held[offer["program_id"]] += offer["value_minor"] - offer["released_minor"]
        counted[offer["program_id"]] += 1
    async for program in offers.walk("/v1/programs"):
        live = program["live"]
        cap = live["definition"]["limits"]["budget_minor"] if live else None
        report.budgets[program["id"]] = Budget(counted[program["id"]], held[program["id"]], cap)
    report.liability = await ledger.get("/v1/reports/liability")
    for motion in MOTIONS:
        report.backtests[motion] = await scoring.get(f"/v1/scorecards/{motion}/backtest")
    return report


def money(minor: int) -> str:
    """Minor units as an amount with two decimals."""
    return f"{minor / 100:,.2f}"


def render(report: Report, run: Run, console: Console) -> None:
    """Print the report's tables and the phases' times."""
    segments = sorted({segment for _colour, segment in report.scores})
    table = Table(title="Scores by colour and segment (scoring: GET /v1/scores)")
    table.add_column("colour")
    for segment in segments:
        table.add_column(segment, justify="right")
    table.add_column("total", justify="right")
    for colour in COLOURS:
        row = [report.scores[(colour, s)] for s in segments]
        if sum(row):
            table.add_row(colour, *map(str, row), str(sum(row)))
    table.add_row(
        "total",
        *(str(sum(report.scores[(c, s)] for c in COLOURS)) for s in segments),
        str(sum(report.scores.values())),
    )
    console.print(table)

    states = sorted({state for _program, state in report.offers})
    table = Table(title="Offers by program and state (offers: GET /v1/offers)")
    table.add_column("program")
    for state in states:
        table.add_column(state, justify="right")
    table.add_column("total", justify="right")
    for program in sorted({p for p, _state in report.offers}):
        row = [report.offers[(program, s)] for s in states]
        table.add_row(program, *map(str, row), str(sum(row)))
    table.add_row(
        "total",
        *(str(sum(n for (_p, s), n in report.offers.items() if s == state)) for state in states),
        str(sum(report.offers.values())),
    )
    console.print(table)

    table = Table(title="Budget per program (offers: committed = offered less released)")
    for column in ("program", "offers", "committed", "cap", "used"):
        table.add_column(column, justify="left" if column == "program" else "right")
    for program, budget in sorted(report.budgets.items()):
        cap = budget.cap_minor
        used = f"{100 * budget.committed_minor / cap:.1f}%" if cap else "no cap"
        table.add_row(
            program,
            str(budget.offers),
            money(budget.committed_minor),
            money(cap) if cap is not None else "-",
            used,
        )
    console.print(table)

    table = Table(title="Ledger liability (ledger: GET /v1/reports/liability)")
    for column in ("unit", "program", "outstanding"):
        table.add_column(column, justify="right" if column == "outstanding" else "left")
    by_program: Counter[tuple[str, str]] = Counter()
    for row in report.liability["rows"]:
        by_program[(row["unit"], row["program_id"] or "-")] += row["amount"]
    for (unit, program), amount in sorted(by_program.items()):
        table.add_row(unit, program, money(amount))
    for unit, amount in sorted(report.liability["totals"].items()):
        table.add_row(unit, "total", money(amount))
    console.print(table)

    table = Table(title="Back-test (scoring: GET /v1/scorecards/{motion}/backtest)")
    for column in ("motion", "renewals", "churned", "stayed", "unscored", "AUC", "verdict"):
        table.add_column(column)
    for motion, result in report.backtests.items():
        auc = "-" if result["auc"] is None else f"{result['auc']:.2f}"
        table.add_row(
            motion,
            *(str(result[k]) for k in ("renewals", "churned", "stayed", "unscored")),
            auc,
            result["verdict"],
        )
    console.print(table)

    table = Table(title=f"Phases (book to {run.anchor})")
    table.add_column("phase")
    table.add_column("seconds", justify="right")
    for phase, took in run.timings.items():
        table.add_row(phase, f"{took:.1f}")
    table.add_row("total", f"{sum(run.timings.values()):.1f}")
    console.print(table)
    console.print("Sent: " + ", ".join(f"{k} {v}" for k, v in run.sent.items()))


async def run_and_report(options: Options, console: Console) -> tuple[Run, Report]:
    """Run the demo, then read back and print what the platform made of it."""
    run = await run_demo(options, console)
    clients = [api(options.urls[s], options.admin_key) for s in ("scoring", "offers", "ledger")]
    try:
        report = await gather(*clients)
    finally:
        for client in clients:
            await client.client.aclose()
    render(report, run, console)
    return run, report
