"""Ingest's pure rules: event validation, Segment clock correction, daily aggregation."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ingest.domain.events import (
    MAX_NAME_LENGTH,
    Event,
    InvalidEvent,
    as_aliased,
    check_storable,
    native_event,
    segment_event,
    storable,
)
from services.ingest.domain.rollups import DEFAULT_EVENT_MAP, Activity, EventMap, aggregate
from shared.validation import MAX_JSON_DEPTH, unstorable

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def uuid4_hex() -> str:
    return uuid.uuid4().hex


def test_native_event_is_normalised_to_utc() -> None:
    event = native_event(
        {"id": "e1", "account_id": "a", "name": "login", "timestamp": "2026-11-20T01:00:00+05:00"},
        NOW,
    )
    assert event.timestamp == datetime(2026, 11, 19, 20, 0, tzinfo=UTC)
    assert event.timestamp.date() == date(2026, 11, 19)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"account_id": "a", "name": "x", "timestamp": "2026-11-20T00:00:00Z"}, "id"),
        ({"id": "e", "name": "x", "timestamp": "2026-11-20T00:00:00Z"}, "account_id"),
        ({"id": "e", "account_id": "a", "timestamp": "2026-11-20T00:00:00Z"}, "name"),
        ({"id": "e", "account_id": "a", "name": "x"}, "timestamp"),
        ({"id": "e", "account_id": "a", "name": "x", "timestamp": "yesterday"}, "timestamp"),
        (
            {"id": "e", "account_id": "a", "name": "x", "timestamp": "2026-11-25T00:00:00Z"},
            "timestamp",
        ),
        (
            {"id": "e", "account_id": 7j, "name": "x", "timestamp": "2026-11-20T00:00:00Z"},
            "account_id",
        ),
        (
            {
                "id": "e",
                "account_id": "a",
                "name": "x",
                "timestamp": "2026-11-20T00:00:00Z",
                "properties": [],
            },
            "properties",
        ),
    ],
)
def test_invalid_native_events_name_the_field(raw: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        native_event(raw, NOW)
    assert caught.value.field == field


def test_segment_skew_correction_uses_sent_at() -> None:
    raw = {
        "type": "track",
        "messageId": "m",
        "userId": "u",
        "event": "login",
        "timestamp": "2026-11-23T20:00:00Z",  # client clock is 8 hours fast
        "sentAt": "2026-11-23T20:00:10Z",
    }
    event = segment_event(raw, default_type=None, received_at=NOW, batch_sent_at=None)
    assert event.timestamp == NOW - timedelta(seconds=10)


def test_segment_without_sent_at_keeps_timestamp_and_batch_sent_at_applies() -> None:
    raw = {
        "type": "track",
        "messageId": "m",
        "userId": "u",
        "event": "e",
        "timestamp": "2026-11-23T11:00:00Z",
    }
    assert segment_event(
        raw, default_type=None, received_at=NOW, batch_sent_at=None
    ).timestamp == datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
    batch_sent = datetime(2026, 11, 23, 11, 30, tzinfo=UTC)
    corrected = segment_event(raw, default_type=None, received_at=NOW, batch_sent_at=batch_sent)
    assert corrected.timestamp == NOW - timedelta(minutes=30)


def test_segment_group_attributes_and_context_group() -> None:
    group = segment_event(
        {"type": "group", "messageId": "m", "userId": "u", "groupId": "acme"},
        default_type=None,
        received_at=NOW,
        batch_sent_at=None,
    )
    assert (group.account_id, group.group_id) == ("acme", "acme")
    track = segment_event(
        {"messageId": "m2", "userId": "u", "event": "x", "context": {"groupId": "acme"}},
        default_type="track",
        received_at=NOW,
        batch_sent_at=None,
    )
    assert track.account_id == "acme"


TRACK = {"type": "track", "messageId": "m", "userId": "u", "event": "x"}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"type": "track", "userId": "u", "event": "x"}, "messageId"),
        ({"type": "track", "messageId": "m", "event": "x"}, "userId"),
        ({"type": "track", "messageId": "m", "userId": "u"}, "event"),
        ({"type": "group", "messageId": "m", "userId": "u"}, "groupId"),
        ({"type": "alias", "messageId": "m", "userId": "u"}, "previousId"),
        ({"type": "launch", "messageId": "m", "userId": "u"}, "type"),
        # Times whose UTC form leaves years 1-9999, and a correction that overflows.
        (TRACK | {"timestamp": "0001-01-01T00:00:00+01:00"}, "timestamp"),
        (TRACK | {"originalTimestamp": "0001-01-01T00:00:00+01:00"}, "originalTimestamp"),
        (TRACK | {"sentAt": "9999-12-31T23:59:59-01:00"}, "sentAt"),
        (TRACK | {"timestamp": "0001-01-02T00:00:00Z", "sentAt": "9999-12-30T00:00:00Z"}, "sentAt"),
        # The driver's infinity sentinels (stored as -infinity, read back naive).
        (TRACK | {"timestamp": "0001-01-01T00:00:00Z"}, "timestamp"),
        (TRACK | {"sentAt": "0001-01-01T00:00:00Z"}, "sentAt"),
        # Lone surrogates and NUL in ids and names.
        (TRACK | {"userId": "u\ud800"}, "userId"),
        (TRACK | {"messageId": "m\udfff"}, "messageId"),
        (TRACK | {"event": "x\ud83d"}, "event"),
        (TRACK | {"context": {"groupId": "a\x00"}}, "context.groupId"),
        (TRACK | {"context": {"groupId": "a" * 201}}, "context.groupId"),
        ({"type": "page", "messageId": "m", "userId": "u", "name": "p\udc00"}, "name"),
    ],
)
def test_invalid_segment_messages_name_the_field(raw: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        segment_event(raw, default_type=None, received_at=NOW, batch_sent_at=None)
    assert caught.value.field == field


def test_aggregate_counts_distinct_users_and_features_per_day() -> None:
    day = datetime(2026, 11, 20, 9, tzinfo=UTC)
    acts = [
        Activity("a", "u1", "login", day),
        Activity("a", "u1", "login", day),
        Activity("a", "u2", "report_created", day),
        Activity("a", "u2", "dashboard_viewed", day),
        Activity("a", "u2", "dashboard_shared", day),
        Activity("a", "u3", "export", day - timedelta(days=1)),
    ]
    totals = aggregate(acts, DEFAULT_EVENT_MAP)
    today = totals[("a", date(2026, 11, 20))]
    assert today.counters["logins"] == 2
    assert today.counters["key_actions"] == 2
    assert today.users == {"u1", "u2"}
    assert today.features == {"reports", "dashboards"}
    assert totals[("a", date(2026, 11, 19))].counters["exports"] == 1


def test_aggregate_counts_an_event_on_its_utc_day_whatever_its_offset() -> None:
    west = timezone(timedelta(hours=-8))
    late_evening_west = datetime(2026, 11, 19, 16, 0, tzinfo=west)  # 2026-11-20 00:00 UTC
    totals = aggregate([Activity("a", "u", "login", late_evening_west)], DEFAULT_EVENT_MAP)
    assert set(totals) == {("a", date(2026, 11, 20))}


def test_event_map_round_trips_through_its_document() -> None:
    custom = EventMap(logins=frozenset({"in"}), core_features={"x": "feature-x"})
    assert EventMap.from_document(custom.to_document()) == custom


@given(
    st.lists(
        st.tuples(st.sampled_from(["login", "export", "other"]), st.integers(0, 3)), max_size=50
    )
)
def test_aggregate_event_count_equals_input(items: list[tuple[str, int]]) -> None:
    base = datetime(2026, 11, 1, tzinfo=UTC)
    acts = [Activity("a", "u", name, base + timedelta(days=d)) for name, d in items]
    totals = aggregate(acts, DEFAULT_EVENT_MAP)
    assert sum(t.counters["events"] for t in totals.values()) == len(items)
    assert sum(t.counters["logins"] for t in totals.values()) == sum(n == "login" for n, _ in items)


def test_an_aliased_id_sends_as_its_user_but_the_alias_call_itself_is_kept_as_sent() -> None:
    def segment(**raw: object) -> Event:
        return segment_event(
            {"messageId": uuid4_hex(), "timestamp": "2026-11-23T10:00:00Z", **raw},
            default_type=None,
            received_at=NOW,
            batch_sent_at=None,
        )

    aliases = {"anon-1": "ada", "old-id": "ada"}
    anonymous = segment(type="track", event="login", anonymousId="anon-1")
    renamed = segment(type="track", event="login", userId="old-id")
    stranger = segment(type="track", event="login", anonymousId="anon-2")
    alias = segment(type="alias", previousId="anon-1", userId="ada")
    assert as_aliased(anonymous, aliases).user_id == "ada"
    assert as_aliased(renamed, aliases).user_id == "ada"
    assert as_aliased(stranger, aliases).user_id is None
    assert as_aliased(alias, aliases) == alias


def test_native_timestamps_out_of_range_in_utc_are_refused_by_field() -> None:
    for stamp in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        raw = {"id": "e", "account_id": "a", "name": "x", "timestamp": stamp}
        with pytest.raises(InvalidEvent) as caught:
            native_event(raw, NOW)
        assert caught.value.field == "timestamp"


def test_a_page_name_longer_than_its_column_is_truncated_not_refused() -> None:
    page = segment_event(
        {"type": "page", "messageId": "m", "userId": "u", "name": "p" * 500},
        default_type=None,
        received_at=NOW,
        batch_sent_at=None,
    )
    assert page.name == "p" * MAX_NAME_LENGTH


def nested(depth: int) -> object:
    value: object = "leaf\x00"
    for _ in range(depth):
        value = {"k": value}
    return value


def test_check_storable_names_the_top_level_field_for_deep_nesting_and_surrogates() -> None:
    for raw, field in (
        ({"properties": nested(300)}, "properties"),
        ({"traits": {"name": "\udfff"}}, "traits"),
        ({"k\ud800": 1}, "k\ufffd"),
    ):
        with pytest.raises(InvalidEvent) as caught:
            check_storable(raw)
        assert caught.value.field == field


def test_storable_keeps_any_refused_body() -> None:
    raw = {
        "id": "e\x00",
        "na\ud800me": ["x\udfff", {"deep": nested(2000)}],
        "ok": {"n": 1, "f": 1.5, "b": True, "z": None},
    }
    kept = storable(raw)
    assert unstorable(kept) is None
    assert kept["id"] == "e\ufffd"
    assert kept["na\ufffdme"][0] == "x\ufffd"
    assert kept["ok"] == raw["ok"]
    # Beyond the depth limit the rest is kept as its JSON text, or said to be too deep.
    level: object = kept["na\ufffdme"][1]
    depth = 2
    while isinstance(level, dict):
        level = level["deep"] if "deep" in level else level["k"]
        depth += 1
    assert isinstance(level, str)
    assert depth == MAX_JSON_DEPTH
    # A subtree past the limit that can be written out is kept as its JSON text.
    kept_text = storable(nested(MAX_JSON_DEPTH + 2))
    for _ in range(MAX_JSON_DEPTH):
        kept_text = kept_text["k"]
    assert kept_text == '{"k": {"k": "leaf\\u0000"}}'
    assert storable({"plain": "text"}) == {"plain": "text"}


def test_storable_keeps_numbers_jsonb_would_change_as_their_text() -> None:
    kept = storable({"properties": {"big": 2**70, "nan": float("nan"), "ok": 1.5}})
    assert kept == {"properties": {"big": str(2**70), "nan": "nan", "ok": 1.5}}
    assert unstorable(kept) is None
