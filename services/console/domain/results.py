"""How a program's results read on the results page (pure): the offers API computes every
figure (rates, the interval, the sample ratio test); this only words and shapes them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from markupsafe import Markup

from services.console.domain import charts

# The interval's scale runs at least from -25 to +25 points, so a narrow interval still reads.
MIN_SPAN = 0.25
_RENEWING = ("renewed", "expanded", "contracted")


def percent(value: float | None) -> str:
    """A proportion as a percentage with one decimal (``0.755`` as ``75.5 %``); ``—`` of None."""
    return "—" if value is None else f"{value * 100:.1f} %"


def points(value: float) -> str:
    """A difference of proportions in percentage points, signed (``+25.0 points``)."""
    return f"{value * 100:+.1f} points"


def day_start(day: date | None) -> str | None:
    """00:00 UTC of ``day`` as the offers API takes an instant (None stays None)."""
    return None if day is None else datetime.combine(day, time(), tzinfo=UTC).isoformat()


@dataclass(frozen=True)
class GroupFigures:
    """One group's counts and rates, each rate with the counts it is made of."""

    name: str
    accounts: int
    final_outcomes: int
    renewing: int
    churned: int
    pending: int
    no_outcome: int
    in_both: int
    outcomes: dict[str, int]
    rate: str
    rate_counts: str
    rate_interval: str
    enough_data: bool
    nrr: str
    arr_start_minor: int
    arr_end_minor: int
    nrr_accounts: int
    other_currency: int
    currency: str


def group_figures(name: str, group: dict[str, Any]) -> GroupFigures:
    """A group of the offers results API as the page shows it."""
    outcomes = {k: int(v) for k, v in (group.get("outcomes") or {}).items()}
    renewing = sum(outcomes.get(k, 0) for k in _RENEWING)
    final = int(group.get("final_outcomes", 0))
    interval = group.get("rate_interval")
    kept = group.get("retention") or {}
    return GroupFigures(
        name=name,
        accounts=int(group.get("accounts", 0)),
        final_outcomes=final,
        renewing=renewing,
        churned=outcomes.get("churned", 0),
        pending=int(group.get("pending", 0)),
        no_outcome=int(group.get("no_outcome", 0)),
        in_both=int(group.get("in_both", 0)),
        outcomes=outcomes,
        rate=percent(group.get("renewal_rate")),
        rate_counts=f"{renewing} of {final} renewed",
        rate_interval=(
            "—"
            if interval is None
            else f"{percent(interval['lower'])} to {percent(interval['upper'])}"
        ),
        enough_data=bool(group.get("enough_data", False)),
        nrr=percent(kept.get("nrr")),
        arr_start_minor=int(kept.get("arr_start_minor", 0)),
        arr_end_minor=int(kept.get("arr_end_minor", 0)),
        nrr_accounts=int(kept.get("accounts", 0)),
        other_currency=int(kept.get("other_currency", 0)),
        currency=str(kept.get("currency", "")),
    )


@dataclass(frozen=True)
class Difference:
    """The renewal-rate difference (treated - holdout), its interval, what it says, and its
    bar."""

    estimate: str
    lower: str
    upper: str
    verdict: str
    colour: str
    text: str
    chart: Markup


def difference(results: dict[str, Any]) -> Difference | None:
    """The difference and its interval as words and a bar; None when there is none (a group
    without final outcomes)."""
    estimate, interval = results.get("difference"), results.get("interval")
    if estimate is None or interval is None:
        return None
    lower, upper = float(interval["lower"]), float(interval["upper"])
    if lower > 0:
        verdict, colour = "the whole interval is above zero: treated accounts renewed more", "green"
    elif upper < 0:
        verdict, colour = "the whole interval is below zero: treated accounts renewed less", "red"
    else:
        verdict, colour = "the interval includes zero: no clear difference", "black"
    confidence = float(results.get("confidence", 0.95))
    text = (
        f"Renewal rate of treated minus held-out accounts: {points(float(estimate))}, "
        f"{confidence:.0%} interval {points(lower)} to {points(upper)}; {verdict}."
    )
    chart = charts.interval(float(estimate), lower, upper, text, span=MIN_SPAN)
    return Difference(
        points(float(estimate)), points(lower), points(upper), verdict, colour, text, chart
    )


@dataclass(frozen=True)
class Split:
    """The sample ratio test's answer: ``mismatch``, ``ok`` or ``untested``, in words."""

    status: str
    text: str


def split(sample_ratio: dict[str, Any] | None) -> Split:
    """What the offers API's sample ratio test says about the groups' split."""
    if not sample_ratio:
        return Split("untested", "The offers service did not test the split.")
    treated, holdout = int(sample_ratio["treated"]), int(sample_ratio["holdout"])
    target = percent(sample_ratio["target_holdout_share"])
    observed = percent(sample_ratio.get("observed_holdout_share"))
    counts = f"{holdout} of {treated + holdout} accounts held out ({observed}; target {target})"
    p = sample_ratio.get("p_value")
    if p is None:
        return Split("untested", f"{counts}: too few accounts to test the split.")
    chi = float(sample_ratio["chi_square"])
    if sample_ratio.get("mismatch"):
        return Split(
            "mismatch",
            f"Sample ratio mismatch: {counts}, chi-square {chi:.2f}, p = {float(p):.2g}, below"
            " 0.001. The groups are not split as designed: treat the comparison as suspect.",
        )
    return Split("ok", f"{counts}: within chance (chi-square {chi:.2f}, p = {float(p):.2g}).")


@dataclass(frozen=True)
class CostRow:
    """What a program's credits cost in one unit."""

    unit: str
    granted: int
    redeemed: int
    expired: int


def cost_rows(costs: dict[str, Any] | None) -> list[CostRow]:
    """The costs (granted, redeemed, expired as breakage) by unit, units in order."""
    costs = costs or {}
    granted, redeemed, expired = (
        costs.get("granted") or {},
        costs.get("redeemed") or {},
        costs.get("expired") or {},
    )
    units = sorted({*granted, *redeemed, *expired})
    return [
        CostRow(u, int(granted.get(u, 0)), int(redeemed.get(u, 0)), int(expired.get(u, 0)))
        for u in units
    ]


def program_name(program: dict[str, Any] | None, program_id: str) -> str:
    """A program's name from its live (or pending) definition, else its id."""
    if not program:
        return program_id
    version = program.get("live") or program.get("pending") or {}
    return str((version.get("definition") or {}).get("name") or program_id)


def program_summary(program: dict[str, Any]) -> dict[str, Any]:
    """What the results list shows of a program: id, name, status, owner, holdout, version."""
    version = program.get("live") or program.get("pending") or {}
    definition = version.get("definition") or {}
    return {
        "id": program.get("id"),
        "name": definition.get("name") or program.get("id"),
        "status": program.get("status"),
        "owner": definition.get("owner"),
        "holdout_percent": definition.get("holdout_percent"),
        "live_version": program.get("live_version"),
    }


@dataclass(frozen=True)
class Figures:
    """Everything the results page shows of the offers API's answer."""

    groups: list[GroupFigures]
    difference: Difference | None
    split: Split
    costs: list[CostRow]
    warnings: list[str]
    method: str
    window_from: str
    window_to: str


def figures(results: dict[str, Any]) -> Figures:
    """The offers results API's answer, shaped for the page."""
    return Figures(
        groups=[group_figures(n, results[n]) for n in ("treated", "holdout") if n in results],
        difference=difference(results),
        split=split(results.get("sample_ratio")),
        costs=cost_rows(results.get("costs")),
        warnings=[str(w) for w in results.get("warnings") or []],
        method=str(results.get("method", "")),
        window_from=str(results.get("window_from", "")),
        window_to=str(results.get("window_to", "")),
    )
