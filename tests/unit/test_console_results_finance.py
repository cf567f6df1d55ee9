"""The results and finance pages' pure shaping: how the offers API's figures and the
ledger's report rows read, without a database or a service."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from services.console.domain import finance, results


def group(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "accounts": 9,
        "in_both": 1,
        "final_outcomes": 4,
        "outcomes": {"renewed": 1, "expanded": 1, "contracted": 1, "churned": 1},
        "pending": 1,
        "no_outcome": 4,
        "renewal_rate": 0.75,
        "rate_interval": {"lower": 0.3006, "upper": 0.9544},
        "enough_data": False,
        "retention": {
            "currency": "USD",
            "accounts": 5,
            "arr_start_minor": 6_000_000,
            "arr_end_minor": 5_160_000,
            "nrr": 0.86,
            "other_currency": 1,
        },
    }
    body.update(changes)
    return body


def test_percent_and_points() -> None:
    assert results.percent(0.755) == "75.5 %"
    assert results.percent(None) == "—"
    assert results.points(0.25) == "+25.0 points"
    assert results.points(-0.0421) == "-4.2 points"
    assert results.day_start(date(2031, 3, 1)) == "2031-03-01T00:00:00+00:00"
    assert results.day_start(None) is None


def test_a_group_reads_with_the_counts_under_its_rate() -> None:
    figures = results.group_figures("treated", group())
    assert figures.rate == "75.0 %"
    assert figures.rate_counts == "3 of 4 renewed"
    assert figures.rate_interval == "30.1 % to 95.4 %"
    assert (figures.renewing, figures.churned, figures.in_both) == (3, 1, 1)
    assert figures.nrr == "86.0 %"
    assert not figures.enough_data
    empty = results.group_figures(
        "holdout",
        group(final_outcomes=0, outcomes={}, renewal_rate=None, rate_interval=None, retention={}),
    )
    assert (empty.rate, empty.rate_counts, empty.rate_interval, empty.nrr) == (
        "—",
        "0 of 0 renewed",
        "—",
        "—",
    )


@pytest.mark.parametrize(
    ("lower", "upper", "colour", "says"),
    [
        (0.05, 0.4, "green", "above zero"),
        (-0.4, -0.05, "red", "below zero"),
        (-0.1, 0.3, "black", "includes zero"),
    ],
)
def test_the_difference_says_where_its_interval_lies_in_words_and_colour(
    lower: float, upper: float, colour: str, says: str
) -> None:
    found = results.difference(
        {
            "difference": 0.1 if lower < 0 < upper else (lower + upper) / 2,
            "interval": {"lower": lower, "upper": upper},
            "confidence": 0.95,
        }
    )
    assert found is not None
    assert found.colour == colour
    assert says in found.verdict
    assert found.text.startswith("Renewal rate of treated minus held-out accounts: ")
    assert f"95% interval {results.points(lower)} to {results.points(upper)}" in found.text
    # The bar carries the same words as its text alternative.
    assert f'aria-label="{found.text}"' in str(found.chart)


def test_no_difference_without_an_interval() -> None:
    assert results.difference({"difference": None, "interval": None}) is None


def test_the_split_in_words() -> None:
    tested = {
        "treated": 2,
        "holdout": 20,
        "target_holdout_share": 0.5,
        "observed_holdout_share": 20 / 22,
        "chi_square": 14.727,
        "p_value": 0.000124,
        "mismatch": True,
    }
    off = results.split(tested)
    assert off.status == "mismatch"
    assert off.text.startswith(
        "Sample ratio mismatch: 20 of 22 accounts held out (90.9 %; target 50.0 %),"
        " chi-square 14.73, p = 0.00012"
    )
    fine = results.split({**tested, "mismatch": False, "p_value": 0.4, "chi_square": 0.7})
    assert fine.status == "ok"
    assert "within chance" in fine.text
    few = results.split({**tested, "p_value": None, "chi_square": None, "mismatch": False})
    assert few.status == "untested"
    assert "too few accounts to test the split" in few.text
    assert results.split(None).status == "untested"


def test_costs_by_unit() -> None:
    rows = results.cost_rows(
        {"granted": {"USD": 5_000, "EUR": 100}, "redeemed": {"USD": 600}, "expired": {}}
    )
    assert rows == [results.CostRow("EUR", 100, 0, 0), results.CostRow("USD", 5_000, 600, 0)]
    assert results.cost_rows(None) == []


def test_a_programs_name_and_summary() -> None:
    program = {
        "id": "p1",
        "status": "active",
        "live_version": 2,
        "live": {"definition": {"name": "Renewal", "owner": "ada", "holdout_percent": "10"}},
        "pending": None,
    }
    assert results.program_name(program, "p1") == "Renewal"
    assert results.program_name(None, "p1") == "p1"
    assert results.program_summary(program) == {
        "id": "p1",
        "name": "Renewal",
        "status": "active",
        "owner": "ada",
        "holdout_percent": "10",
        "live_version": 2,
    }


LIABILITY: list[dict[str, Any]] = [
    {"unit": "USD", "program_id": "b", "tier": "gold", "age": "90+", "amount": 100},
    {"unit": "USD", "program_id": "a", "tier": "gold", "age": "0-29", "amount": 200},
    {"unit": "USD", "program_id": None, "tier": None, "age": "30-59", "amount": 50},
    {"unit": "USD", "program_id": "a", "tier": "silver", "age": "0-29", "amount": 25},
    {"unit": "EUR", "program_id": "a", "tier": "gold", "age": "60-89", "amount": 7},
]


def test_liability_summed_by_program_tier_and_age_in_order() -> None:
    by_program = finance.liability_by(LIABILITY, "program_id")
    assert [(r.unit, r.key, r.amounts) for r in by_program] == [
        ("EUR", "a", (7,)),
        ("USD", "a", (225,)),
        ("USD", "b", (100,)),
        ("USD", "(none)", (50,)),  # credit of no program last
    ]
    by_tier = finance.liability_by(LIABILITY, "tier")
    assert [(r.unit, r.key, r.amounts[0]) for r in by_tier] == [
        ("EUR", "gold", 7),
        ("USD", "gold", 300),
        ("USD", "silver", 25),
        ("USD", "(none)", 50),
    ]
    by_age = finance.liability_by(LIABILITY, "age")
    assert [(r.unit, r.key) for r in by_age] == [
        ("EUR", "60-89"),
        ("USD", "0-29"),
        ("USD", "30-59"),
        ("USD", "90+"),
    ]
    assert finance.totals(by_age) == {"EUR": (7,), "USD": (375,)}


def test_months_joined_from_three_reports() -> None:
    rows = finance.monthly_rows(
        [
            {"month": "2031-01", "unit": "USD", "program_id": "a", "amount": 1_000},
            {"month": "2031-01", "unit": "USD", "program_id": "b", "amount": 500},
            {"month": "2031-03", "unit": "USD", "program_id": "a", "amount": 10},
        ],
        [{"month": "2031-02", "unit": "USD", "program_id": None, "amount": 300}],
        [{"month": "2031-03", "unit": "USD", "program_id": "a", "amount": 40}],
    )
    assert [(r.key, r.amounts) for r in rows] == [
        ("2031-01", (1_500, 0, 0)),
        ("2031-02", (0, 300, 0)),
        ("2031-03", (10, 0, 40)),
    ]
    assert finance.totals(rows) == {"USD": (1_510, 300, 40)}
    assert finance.csv_rows("monthly", rows)[0] == ("USD", "2031-01", 1_500, 0, 0)


def test_each_bar_chart_gives_every_months_figure_in_its_text() -> None:
    rows = [finance.Row("USD", f"2030-{m:02d}", (0, m * 100, 0)) for m in range(1, 13)]
    rows += [finance.Row("USD", "2031-01", (0, 5_000, 0))]
    (chart,) = finance.month_charts(rows, 1, "Redeemed")
    # The last twelve months only, the oldest first.
    assert chart.text.startswith("Redeemed by month, USD, 2030-02 to 2031-01: 2030-02: 2.00 USD;")
    assert chart.text.endswith("2031-01: 50.00 USD.")
    assert ">Jan</text>" in str(chart.chart)
    assert "2030-01" not in chart.text
    assert finance.month_label("2031-11") == "Nov"
    assert finance.month_label("odd") == "odd"


def test_expiring_rows_and_their_csv() -> None:
    rows = finance.expiring_rows(
        [
            {"unit": "USD", "within_30_days": 1, "within_60_days": 2, "within_90_days": 3},
            {"unit": "EUR", "within_30_days": 0, "within_60_days": 0, "within_90_days": 9},
        ]
    )
    assert finance.csv_rows("expiring", rows) == [("EUR", 0, 0, 9), ("USD", 1, 2, 3)]
    assert set(finance.HEADERS) == set(finance.TABLES)
