"""The accounts pages' pure rules: the list's filters, the CSV rows, each measure's points,
the trend and its words, milestones, and the override form's expiry."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from services.console.domain.account_view import (
    MILESTONES,
    contribution_bar,
    contributions,
    expiry_default,
    expiry_for_api,
    field_errors,
    milestones,
    trend,
    trend_words,
)
from services.console.domain.accounts import (
    CSV_HEADER,
    AccountFilters,
    BadFilter,
    csv_row,
    label,
    parse_filters,
)


def test_empty_fields_are_filters_off() -> None:
    filters = parse_filters({"q": "  ", "colour": "", "health_above": ""})
    assert filters == AccountFilters()
    assert not filters.any
    assert filters.query() == ""


def test_filters_become_scorings_query_and_the_links_keep_them() -> None:
    filters = parse_filters(
        {
            "q": " Acme & co ",
            "colour": "red",
            "segment": "at_risk",
            "tier": "gold",
            "motion": "smb",
            "renewal_window": "90",
            "health_above": "10",
            "health_below": "45.5",
        }
    )
    assert filters.api_params() == {
        "q": "Acme & co",
        "colour": "red",
        "segment": "at_risk",
        "tier": "gold",
        "motion": "smb",
        "renewal_window": "90",
        "health_above": "10",
        "health_below": "45.5",
    }
    assert filters.renewal_window == 90
    link = filters.query(cursor="abc=")
    assert link.startswith("q=Acme+%26+co&colour=red")
    assert link.endswith("&cursor=abc%3D")
    assert AccountFilters(colour="red").query(cursor=None) == "colour=red"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"colour": "purple"}, "colour"),
        ({"segment": "vip"}, "segment"),
        ({"tier": "bronze"}, "tier"),
        ({"motion": "galactic"}, "motion"),
        ({"renewal_window": "45"}, "renewal_window"),
        ({"health_above": "lots"}, "health_above"),
        ({"health_below": "101"}, "health_below"),
        ({"health_above": "nan"}, "health_above"),
        ({"health_above": "50", "health_below": "50"}, "health_below"),
        ({"q": "x" * 201}, "q"),
    ],
)
def test_a_filter_the_list_cannot_take_is_named(raw: dict[str, str], field: str) -> None:
    with pytest.raises(BadFilter) as refused:
        parse_filters(raw)
    assert refused.value.field == field


def test_a_csv_row_follows_the_header_with_money_in_minor_units() -> None:
    snapshot = {
        "account_id": "a1",
        "name": "=cmd()",
        "colour": "green",
        "computed_colour": "red",
        "override": {"reason": "champion back"},
        "health_score": 31.5,
        "mrr_minor": 12345,
        "currency": "EUR",
    }
    row = csv_row(snapshot)
    assert len(row) == len(CSV_HEADER)
    by = dict(zip(CSV_HEADER, row, strict=True))
    assert by["override_reason"] == "champion back"
    assert by["mrr_minor"] == 12345
    assert by["segment"] is None
    assert csv_row({"override": None})[CSV_HEADER.index("override_reason")] is None
    assert label("mid_market") == "mid market"
    assert label(None) == "—"


def _measure(
    name: str, contribution: float, lost: float, missing: bool = False
) -> dict[str, object]:
    return {
        "measure": name,
        "raw": None if missing else 3.0,
        "missing": missing,
        "sub_score": None if missing else 50.0,
        "weight": 10,
        "effective_weight": 0 if missing else contribution + lost,
        "contribution": contribution,
        "lost": lost,
    }


def test_contributions_lead_with_the_points_missed_and_end_with_missing_measures() -> None:
    rows = contributions(
        [
            _measure("nps", 0, 0, missing=True),
            _measure("login_recency", 10, 2),
            _measure("support_burden", 3, 9),
        ]
    )
    assert [r.measure for r in rows] == ["support_burden", "login_recency", "nps"]
    assert rows[0].earned == 3
    assert rows[0].missed == 9
    assert rows[0].label == "Support burden"
    assert rows[0].words == "Support burden: earned 3.0 of 12.0 points, missed 9.0"
    assert "no data" in rows[2].words
    assert rows[2].label == "NPS"
    bar = str(contribution_bar(rows[0]))
    assert 'aria-label="Support burden: earned 3.0 of 12.0 points, missed 9.0"' in bar
    assert "<script" not in bar


def test_the_trend_has_a_value_per_day_and_gaps_where_not_scored() -> None:
    today = date(2026, 12, 1)
    points = [
        {"day": "2026-11-29", "health_score": 40.0},
        {"day": "2026-12-01", "health_score": 55.5},
        {"day": "2026-08-01", "health_score": 99.0},  # before the 90 days: not drawn
    ]
    values = trend(points, today)
    assert len(values) == 90
    assert values[-3:] == [40.0, None, 55.5]
    assert 99.0 not in values


def test_the_trends_words_give_first_last_lowest_and_highest() -> None:
    points: list[dict[str, Any]] = [
        {"day": "2026-11-20", "health_score": 62.0},
        {"day": "2026-11-25", "health_score": 35.25},
        {"day": "2026-11-27", "health_score": None},
        {"day": "2026-11-28", "health_score": 80.0},
        {"day": "2026-12-01", "health_score": 71.0},
    ]
    words = trend_words(points)
    assert words == (
        "Health over the last 90 days (4 days scored): first 62.0 on 2026-11-20,"
        " last 71.0 on 2026-12-01, lowest 35.2 on 2026-11-25, highest 80.0 on 2026-11-28."
    )
    assert trend_words([]) == "Health over the last 90 days: no score yet."
    one = trend_words([{"day": "2026-12-01", "health_score": 50.0}])
    assert "(1 day scored)" in one


def test_milestones_are_all_listed_with_the_day_reached() -> None:
    listed = milestones({"first_key_action": "2026-10-02"})
    assert [m for m, _d in listed] == list(MILESTONES)
    assert dict(listed)["first_key_action"] == date(2026, 10, 2)
    assert dict(listed)["ten_active_users"] is None


def test_the_override_forms_expiry_is_read_as_utc_and_anything_else_goes_as_typed() -> None:
    assert expiry_for_api("2026-12-15T09:30") == "2026-12-15T09:30:00+00:00"
    assert expiry_for_api(" 2026-12-15T09:30:15 ") == "2026-12-15T09:30:15+00:00"
    assert expiry_for_api("2026-02-31T10:00") == "2026-02-31T10:00"
    assert expiry_for_api("soon") == "soon"
    assert expiry_for_api("") == ""
    now = datetime(2026, 12, 1, 8, 5, 59, tzinfo=UTC)
    assert expiry_default(now) == "2026-12-15T08:05"


def test_scorings_field_errors_land_on_the_override_forms_fields() -> None:
    errors = field_errors({"/reason": "too short", "/expires_at": "past", "/other": "x"})
    assert errors == {"reason": "too short", "expires_at": "past"}
