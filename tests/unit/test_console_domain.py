"""The console's pure rules: roles and scopes, sign-in throttling, tokens, formatting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.console.api.sign_in import safe_next
from services.console.domain import formatting
from services.console.domain.charts import Segment, bars, interval, sparkline, stacked_bar
from services.console.domain.csrf import csrf_matches, csrf_token
from services.console.domain.csv_export import to_csv
from services.console.domain.roles import UnknownRole, check_roles, roles_held, scopes_for
from services.console.domain.throttle import SignInThrottle
from services.console.domain.timeline import offer_timeline
from services.console.timing import busy_seconds


def test_roles_give_their_scopes_and_scopes_read_back_as_roles() -> None:
    scopes = scopes_for(check_roles(["finance", "approver"]))
    assert "offers:approve" in scopes
    assert "offers:approve_finance" in scopes
    assert "admin" not in scopes
    assert roles_held(scopes) == ["viewer", "approver", "finance"]
    assert roles_held(["admin"])[-1] == "admin"
    assert roles_held(["offers:read"]) == []  # reading offers alone is not a viewer


def test_unknown_or_no_roles_are_refused_by_name() -> None:
    with pytest.raises(UnknownRole, match="overlord"):
        check_roles(["viewer", "overlord"])
    with pytest.raises(UnknownRole, match="at least one"):
        check_roles([])


def test_the_throttle_counts_failures_per_key_within_its_window() -> None:
    throttle = SignInThrottle(allowed=2, window=60)
    keys = ("name:ann", "address:1")
    throttle.failed(keys, 0)
    assert throttle.wait_for(keys, 1) == 0
    throttle.failed(keys, 10)
    assert throttle.wait_for(("address:1",), 20) == 40  # the first failure leaves at 60
    assert throttle.wait_for(("address:2",), 20) == 0
    assert throttle.wait_for(keys, 61) == 0
    throttle.succeeded("name:ann")
    assert throttle.wait_for(("name:ann",), 11) == 0


def test_a_forms_token_is_its_sessions_alone() -> None:
    assert csrf_matches("tnr_a", csrf_token("tnr_a"))
    assert not csrf_matches("tnr_b", csrf_token("tnr_a"))
    assert not csrf_matches("tnr_a", None)
    assert not csrf_matches("tnr_a", "")


@pytest.mark.parametrize(
    ("target", "goes"),
    [
        ("/offers/1", "/offers/1"),
        ("//evil.example/x", "/inbox"),
        ("https://evil.example", "/inbox"),
        ("/\\evil.example", "/inbox"),
        ("", "/inbox"),
        (None, "/inbox"),
    ],
)
def test_after_sign_in_the_console_goes_only_to_its_own_pages(
    target: str | None, goes: str
) -> None:
    assert safe_next(target) == goes


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (123456, "EUR", "1,234.56 EUR"),
        (-5, "USD", "-0.05 USD"),
        (0, "", "0.00"),
        (1500, "JPY", "1,500 JPY"),
        (None, "EUR", "—"),
        (10**17, "USD", "1,000,000,000,000,000.00 USD"),
    ],
)
def test_money_is_formatted_from_integers(minor: int | None, currency: str, text: str) -> None:
    assert formatting.money(minor, currency) == text


def test_shares_and_ages_read_as_people_say_them() -> None:
    assert formatting.share(1, 3) == "33.3 %"
    assert formatting.share(2, 3) == "66.7 %"
    assert formatting.share(5, 0) == "—"
    assert formatting.age(45) == "45 s"
    assert formatting.age(3 * 3600 + 5 * 60) == "3 h 5 min"
    assert formatting.age(2 * 86400) == "2 d"
    assert (
        formatting.since(datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 1, 1, 0, 12, tzinfo=UTC))
        == "12 min"
    )


def test_an_offers_timeline_runs_from_its_snapshot_to_the_ledger() -> None:
    t0 = datetime(2030, 5, 1, tzinfo=UTC)
    trace = {
        "snapshot": {"computed_at": t0.isoformat(), "colour": "red", "tier": "gold"},
        "decision": {
            "decided_at": (t0 + timedelta(minutes=1)).isoformat(),
            "outcome": "offered",
            "reason": "renewal within 60 days",
            "program_id": "renewal",
            "program_version": 2,
        },
        "events": [
            {
                "at": (t0 + timedelta(minutes=1)).isoformat(),
                "event": "proposed",
                "state": "pending_approval",
                "principal": "offers",
                "comment": None,
                "detail": {},
            },
            {
                "at": (t0 + timedelta(hours=2)).isoformat(),
                "event": "approval",
                "state": "pending_approval",
                "principal": "ann",
                "comment": "fine",
                "detail": {"slot": "approver"},
            },
        ],
        "ledger_transactions": [
            {
                "at": (t0 + timedelta(hours=3)).isoformat(),
                "kind": "grant",
                "transaction_id": "t-1",
                "hash": "ab" * 32,
                "amount_minor": 5000,
                "remaining_minor": 5000,
                "invoice_id": None,
            }
        ],
    }
    steps = offer_timeline(trace)
    assert [s.what for s in steps] == [
        "Account scored",
        "Decision: offered",
        "Proposed",
        "Approval",
        "Ledger: grant",
    ]
    assert steps[1].why == "renewal within 60 days"
    assert (steps[3].who, steps[3].why, steps[3].facts["slot"]) == ("ann", "fine", "approver")
    assert steps[4].facts["hash"] == "ab" * 32


def test_charts_carry_their_text_alternative_escaped_and_no_script_or_style() -> None:
    drawn = [
        stacked_bar([Segment(30, "#000", "spent"), Segment(90, "#111", "reserved")], 100, "<b>"),
        sparkline([10, None, 50, 70], "<b>"),
        sparkline([], "<b>"),
        interval(0.05, -0.01, 0.11, "<b>", span=0.2),
        bars([("<jan>", 3), ("feb", 0)], "<b>"),
    ]
    for svg in drawn:
        assert 'role="img"' in svg
        assert 'aria-label="&lt;b&gt;"' in svg
        assert "<title>&lt;b&gt;</title>" in svg
        assert "<script" not in svg
        assert "style=" not in svg
    assert "&lt;jan&gt;" in drawn[-1]
    assert 'stroke="#a3161b"' in drawn[0]  # over its cap: outlined red


def test_csv_cells_that_would_run_as_formulas_are_neutralised() -> None:
    text = to_csv(["name", "arr"], [['=HYPERLINK("x")', -5], ["@SUM(1)", 7], [None, True]])
    assert text.splitlines() == [
        "name,arr",
        '"\'=HYPERLINK(""x"")",-5',
        "'@SUM(1),7",
        ",true",
    ]


def test_api_time_counts_calls_made_at_once_once() -> None:
    assert busy_seconds([]) == 0
    assert busy_seconds([(0, 2), (1, 3), (5, 6)]) == 4  # 0-3 and 5-6
    assert busy_seconds([(0, 10), (2, 3)]) == 10
