"""The scorecards and integrations pages' pure rules: the scorecard form read back into the
API's body, API pointers to form fields, churn bars, a source's state, replay sentences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.console.domain.integrations import (
    bulk_replay_said,
    replay_said,
    short_json,
    source_labels,
    source_state,
)
from services.console.domain.scorecards import (
    ScorecardForm,
    body_of,
    churn_alternative,
    churn_bars,
    field_of,
    form_of,
    number_text,
    parse_points,
    percent,
    points_text,
    problems_of,
    read_form,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_numbers_and_points_read_as_typed() -> None:
    assert number_text(20.0) == "20"
    assert number_text(0.25) == "0.25"
    assert points_text([[1, 100], [7.5, 70.0]]) == "1:100, 7.5:70"
    assert parse_points(" 1:100 , 7.5 : 70,") == [[1.0, 100.0], [7.5, 70.0]]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "value:sub-score"),
        ("1:100, 7", "point 2 ('7')"),
        ("a:b", "point 1"),
        ("1:nan", "two numbers"),
        ("1:2:3", "point 1"),
    ],
)
def test_points_that_are_not_numbers_say_which(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=r".") as raised:
        parse_points(text)
    assert words in str(raised.value)


def test_the_form_round_trips_a_scorecard_into_the_apis_body() -> None:
    card = {"weights": {"nps": 60.0, "csat": 40}, "thresholds": {"nps": [[0, 0], [10, 100]]}}
    form = form_of(card)
    assert form.weights == {"nps": "60", "csat": "40"}
    assert form.thresholds == {"nps": "0:0, 10:100"}
    fields = {
        "weight-nps": " 55 ",
        "weight-csat": "45",
        "thresholds-nps": "0:0, 10:100",
        "thresholds-csat": "1:0, 5:100",
        "comment": " more CSAT ",
    }
    body, problems = body_of(read_form(fields, ["nps", "csat"]))
    assert problems == {}
    assert body == {
        "weights": {"nps": 55.0, "csat": 45.0},
        "thresholds": {"nps": [[0.0, 0.0], [10.0, 100.0]], "csat": [[1.0, 0.0], [5.0, 100.0]]},
        "comment": "more CSAT",
    }


def test_a_field_that_is_not_numbers_is_named_and_nothing_is_sent() -> None:
    form = ScorecardForm({"nps": "ten"}, {"nps": "0:0, x"})
    body, problems = body_of(form)
    assert body is None
    assert problems == {
        "weight-nps": "the weight of nps must be a number",
        "thresholds-nps": "nps: point 2 ('x') is not value:sub-score, two numbers",
    }
    # A missing field reads as empty, and is refused the same way.
    assert body_of(read_form({}, ["nps"]))[0] is None


def test_api_pointers_name_the_form_fields() -> None:
    assert field_of("/weights/nps") == "weight-nps"
    assert field_of("/thresholds/nps/2") == "thresholds-nps"
    assert field_of("/weights") == "weights"
    assert field_of("") == "scorecard"
    joined = problems_of({"/thresholds/nps/1": "falls", "/thresholds/nps/2": "falls again"})
    assert joined == {"thresholds-nps": "falls; falls again"}


def test_churn_by_colour_as_bars_and_their_text() -> None:
    by_colour: dict[str, dict[str, Any]] = {
        "red": {"renewals": 8, "churned": 3, "churn_rate": 0.375},
        "yellow": {"renewals": 0, "churned": 0, "churn_rate": None},
        "green": {"renewals": 20, "churned": 1, "churn_rate": 0.05},
    }
    assert churn_bars(by_colour) == [("red", 375), ("yellow", 0), ("green", 50)]
    text = churn_alternative(by_colour)
    assert "red: 37.5 % churned (3 of 8 renewals)" in text
    assert "yellow: — churned (0 of 0 renewals)" in text
    assert percent(None) == "—"
    assert percent(0.05) == "5.0 %"


def test_a_sources_state_from_its_activity() -> None:
    recent = (NOW - timedelta(minutes=3)).isoformat()
    assert source_state({"disabled_at": recent, "last_event_at": recent}, NOW).word == "disabled"
    assert source_state({"last_event_at": None}, NOW).word == "never"
    quiet = source_state({"last_event_at": (NOW - timedelta(days=2)).isoformat()}, NOW)
    assert (quiet.word, quiet.sentence) == ("quiet", "Quiet: nothing for 2 d.")
    assert source_state({"last_event_at": recent, "rejected_24h": 2}, NOW).word == "refusing"
    assert source_state({"last_event_at": recent, "rejected_24h": 0}, NOW).word == "receiving"


def test_rejected_events_name_their_source() -> None:
    labels = source_labels(
        [
            {"id": "a1", "kind": "segment", "name": "web"},
            {"id": "b2", "kind": "stripe", "name": "s"},
        ]
    )
    assert labels == {
        "native": "native API",
        "segment:a1": "web (segment)",
        "webhook:b2": "s (stripe)",
    }


def test_what_a_replay_did_is_said() -> None:
    assert replay_said(4, {"outcome": "accepted"}) == (True, "Rejected event 4 replayed: accepted.")
    assert replay_said(4, {"outcome": "duplicate"})[0] is True
    taken, said = replay_said(4, {"outcome": "rejected", "reason": "unknown account x"})
    assert not taken
    assert said.endswith("refused again: unknown account x")
    assert bulk_replay_said({"accepted": 2, "duplicates": 1, "rejected": 0}) == (
        "Replayed 3: 2 accepted, 1 stored already, 0 refused again."
    )
    assert bulk_replay_said({}).startswith("No unresolved rejected event matched")


def test_a_raw_body_is_cut_short() -> None:
    assert short_json({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
    assert len(short_json({"p": "x" * 1000}, limit=50)) == 50
