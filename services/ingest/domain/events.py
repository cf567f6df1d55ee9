"""Normalising incoming events (native and Segment) into one shape, or saying why not."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.validation import MAX_JSON_DEPTH, number_problem, to_instant, unstorable

MAX_ID_LENGTH = 200
MAX_NAME_LENGTH = 200
# Events stamped further ahead than this are refused as a broken clock, not accepted as late.
MAX_FUTURE_SKEW = timedelta(days=1)
SEGMENT_TYPES = frozenset({"track", "identify", "group", "page", "screen", "alias"})


@dataclass(frozen=True)
class Event:
    """An accepted event, attributed to an account when one is known."""

    id: str
    type: str
    name: str
    timestamp: datetime
    account_id: str | None
    user_id: str | None
    anonymous_id: str | None
    properties: dict[str, Any] = field(default_factory=dict)
    traits: dict[str, Any] = field(default_factory=dict)
    group_id: str | None = None
    previous_id: str | None = None
    # The timestamp as the client sent it, before any clock-skew correction (None: it sent
    # none, and arrival time was taken).
    sent_timestamp: datetime | None = None


@dataclass(frozen=True)
class Rejection:
    """Why one event of a batch was refused, and which field was at fault."""

    index: int
    id: str | None
    reason: str
    field: str


class InvalidEvent(ValueError):
    """An event that cannot be accepted; names the field at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


OUT_OF_RANGE_REASON = "is outside the range of representable times (years 1 to 9999 in UTC)"


def parse_timestamp(value: Any, field_name: str) -> datetime:
    """An ISO 8601 timestamp as an aware UTC datetime (naive times are taken as UTC)."""
    if not isinstance(value, str) or not value:
        raise InvalidEvent(field_name, "must be an ISO 8601 timestamp string")
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidEvent(field_name, "must be an ISO 8601 timestamp") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return to_instant(parsed)  # 0001-01-01T00:00:00+01:00 is in year 0 in UTC
    except ValueError:
        raise InvalidEvent(field_name, OUT_OF_RANGE_REASON) from None


def _optional_id(raw: dict[str, Any], key: str, field_name: str | None = None) -> str | None:
    value = raw.get(key)
    name = field_name or key
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)  # Segment allows numeric user ids
    if not isinstance(value, str):
        raise InvalidEvent(name, "must be a string")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidEvent(name, f"must be at most {MAX_ID_LENGTH} characters")
    _check_text(name, value)
    return value


def _check_text(key: str, value: str) -> None:
    problem = unstorable(value)
    if problem:
        raise InvalidEvent(key, problem)


def _required_name(raw: dict[str, Any], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidEvent(key, "is required and must be a non-empty string")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidEvent(key, f"must be at most {MAX_NAME_LENGTH} characters")
    _check_text(key, value)
    return value


def _object(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidEvent(key, "must be an object")
    return value


def check_storable(raw: Any) -> None:
    """Refuse an event holding anything PostgreSQL cannot store (``unstorable``), naming the
    top-level field it is in."""
    if isinstance(raw, dict):
        for key, value in raw.items():
            problem = unstorable(key) or unstorable(value)
            if problem:
                raise InvalidEvent(clean_text(str(key))[:MAX_NAME_LENGTH], problem)
    else:
        problem = unstorable(raw)
        if problem:
            raise InvalidEvent("", problem)


def without_secrets(raw: Any) -> Any:
    """A message without the Segment ``writeKey`` an SDK may put in its body: a refused
    message is kept and shown to readers, who must not learn the source's key from it."""
    if isinstance(raw, dict) and "writeKey" in raw:
        return {k: v for k, v in raw.items() if k != "writeKey"}
    return raw


_UNSTORABLE_CHARACTERS = re.compile("[\x00\ud800-\udfff]")


def clean_text(value: str) -> str:
    """``value`` with NUL characters and lone UTF-16 surrogates replaced by U+FFFD."""
    return _UNSTORABLE_CHARACTERS.sub("\ufffd", value)


def storable(raw: Any) -> Any:
    """A refused body as it can be kept (jsonb), whatever it holds.

    NUL characters and lone surrogates, in keys and values, become U+FFFD; a number jsonb would
    not keep exactly becomes its text; a container nested deeper than ``MAX_JSON_DEPTH`` is
    kept as its JSON text. The copy is iterative, so no
    depth overflows the stack.
    """
    if unstorable(raw) is None:
        return raw
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any, int]] = [(raw, root, 0, 0)]
    while stack:
        value, parent, key, depth = stack.pop()
        if isinstance(value, str):
            parent[key] = clean_text(value)
        elif isinstance(value, dict | list) and depth >= MAX_JSON_DEPTH:
            parent[key] = _as_text(value)
        elif isinstance(value, dict):
            copy: dict[str, Any] = {}
            parent[key] = copy
            for k, v in value.items():
                name = clean_text(str(k))
                copy[name] = None
                stack.append((v, copy, name, depth + 1))
        elif isinstance(value, list):
            items: list[Any] = [None] * len(value)
            parent[key] = items
            stack.extend((v, items, i, depth + 1) for i, v in enumerate(value))
        elif isinstance(value, int | float) and number_problem(value):
            parent[key] = repr(value)  # as text: jsonb would not keep the number as sent
        else:
            parent[key] = value
    return root[0]


def _as_text(value: Any) -> str:
    try:
        # ensure_ascii writes NUL and surrogates as escapes: the text itself is storable.
        return json.dumps(value, ensure_ascii=True)
    except (RecursionError, ValueError):
        return f"(nested deeper than {MAX_JSON_DEPTH} levels; not kept)"


def _check_not_future(ts: datetime, now: datetime, field_name: str) -> None:
    if ts > now + MAX_FUTURE_SKEW:
        raise InvalidEvent(field_name, "is more than a day in the future")


def native_event(raw: Any, now: datetime) -> Event:
    """Validate one event of ``POST /v1/events``."""
    if not isinstance(raw, dict):
        raise InvalidEvent("", "must be an object")
    event_id = _optional_id(raw, "id")
    if event_id is None:
        raise InvalidEvent("id", "is required")
    name = _required_name(raw, "name")
    account_id = _optional_id(raw, "account_id")
    user_id = _optional_id(raw, "user_id")
    if account_id is None and user_id is None:
        raise InvalidEvent("account_id", "account_id or user_id is required")
    if "timestamp" not in raw:
        raise InvalidEvent("timestamp", "is required")
    ts = parse_timestamp(raw["timestamp"], "timestamp")
    _check_not_future(ts, now, "timestamp")
    return Event(
        id=event_id,
        type="track",
        name=name,
        timestamp=ts,
        account_id=account_id,
        user_id=user_id,
        anonymous_id=None,
        properties=_object(raw, "properties"),
        sent_timestamp=ts,
    )


def segment_timestamp(
    raw: dict[str, Any], received_at: datetime, batch_sent_at: datetime | None
) -> tuple[datetime, datetime | None]:
    """Segment's clock-skew correction: ``receivedAt - (sentAt - timestamp)``, and the
    timestamp the client sent (None when it sent none).

    When the client says when it sent the message, its clock's offset is removed; without
    ``sentAt`` the timestamp is taken as given, and without a timestamp, arrival time.
    """
    stamp_field = "timestamp" if raw.get("timestamp") else "originalTimestamp"
    original = raw.get(stamp_field)
    ts = parse_timestamp(original, stamp_field) if original is not None else None
    sent_raw = raw.get("sentAt")
    sent_at = parse_timestamp(sent_raw, "sentAt") if sent_raw is not None else batch_sent_at
    if ts is None:
        return received_at, None
    if sent_at is None:
        return ts, ts
    try:
        return to_instant(received_at - (sent_at - ts)), ts
    except (OverflowError, ValueError):
        raise InvalidEvent(
            "sentAt", "corrected by sentAt, the timestamp " + OUT_OF_RANGE_REASON
        ) from None


def segment_event(
    raw: Any,
    *,
    default_type: str | None,
    received_at: datetime,
    batch_sent_at: datetime | None,
) -> Event:
    """Validate one Segment Tracking API message (track, identify, group, page, screen, alias)."""
    if not isinstance(raw, dict):
        raise InvalidEvent("", "must be an object")
    kind = raw.get("type", default_type)
    if kind not in SEGMENT_TYPES:
        raise InvalidEvent("type", f"must be one of {', '.join(sorted(SEGMENT_TYPES))}")
    message_id = _optional_id(raw, "messageId")
    if message_id is None:
        raise InvalidEvent("messageId", "is required (it is the deduplication key)")
    user_id = _optional_id(raw, "userId")
    anonymous_id = _optional_id(raw, "anonymousId")
    if user_id is None and anonymous_id is None:
        raise InvalidEvent("userId", "userId or anonymousId is required")
    context = _object(raw, "context")
    group_id = _optional_id(raw, "groupId") if kind == "group" else None
    if kind == "group" and group_id is None:
        raise InvalidEvent("groupId", "is required for a group call")
    account_id = group_id or _optional_id(context, "groupId", "context.groupId")
    if kind == "track":
        name = _required_name(raw, "event")
    elif kind in ("page", "screen"):
        # A page or screen name is a title, not an identifier: one too long is truncated to
        # its column rather than losing the call.
        given = raw.get("name")
        name = given[:MAX_NAME_LENGTH] if isinstance(given, str) and given else kind
        _check_text("name", name)
    else:
        name = kind
    previous_id = _optional_id(raw, "previousId") if kind == "alias" else None
    if kind == "alias" and previous_id is None:
        raise InvalidEvent("previousId", "is required for an alias call")
    ts, sent_ts = segment_timestamp(raw, received_at, batch_sent_at)
    _check_not_future(ts, received_at, "timestamp")
    return Event(
        id=message_id,
        type=kind,
        name=name,
        timestamp=ts,
        account_id=account_id,
        user_id=user_id,
        anonymous_id=anonymous_id,
        properties=_object(raw, "properties"),
        traits=_object(raw, "traits"),
        group_id=group_id,
        previous_id=previous_id,
        sent_timestamp=sent_ts,
    )


def alias_calls(events: Iterable[Event]) -> dict[str, str]:
    """The Segment ``alias`` calls among events: previous id -> the user it now is."""
    return {
        e.previous_id: e.user_id
        for e in events
        if e.type == "alias" and e.previous_id and e.user_id
    }


def as_aliased(event: Event, aliases: Mapping[str, str]) -> Event:
    """An event sent under an id that was aliased (Segment ``alias``), as its user's."""
    if event.type == "alias":
        return event
    sender = event.user_id or event.anonymous_id
    user = aliases.get(sender) if sender else None
    return event if user is None else replace(event, user_id=user)
