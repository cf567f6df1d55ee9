"""How the integrations page reads the platform's plumbing (pure): a source's state from its
activity, which source a rejected event came from, and what a replay or a retry did."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.console.domain.formatting import since

# A source that has sent nothing for this long is worth a look (an integration that broke
# quietly looks exactly like one nobody uses, until someone notices).
QUIET_AFTER = timedelta(hours=24)
# The services whose outbox an admin may see and retry, in the order data flows.
OUTBOX_SERVICES = ("ingest", "scoring", "offers", "ledger")


@dataclass(frozen=True)
class SourceState:
    """A source's state in a word (for the eye) and a sentence (for the reader)."""

    word: str
    sentence: str


def source_state(source: Mapping[str, Any], now: datetime) -> SourceState:
    """Disabled, never sent, quiet (nothing for ``QUIET_AFTER``), refusing some of what it
    sends, or receiving."""
    if source.get("disabled_at"):
        return SourceState("disabled", "Disabled: nothing it sends is accepted.")
    last = _instant(source.get("last_event_at"))
    if last is None:
        return SourceState("never", "Nothing received from it yet.")
    if now - last > QUIET_AFTER:
        return SourceState("quiet", f"Quiet: nothing for {since(last, now)}.")
    if int(source.get("rejected_24h") or 0):
        return SourceState("refusing", "Receiving, but some of its events were refused today.")
    return SourceState("receiving", "Receiving.")


def _instant(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def source_labels(sources: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """The rejected events' source labels (``segment:<id>``, ``webhook:<id>``) by the name
    of the source they stand for."""
    labels: dict[str, str] = {"native": "native API"}
    for source in sources:
        prefix = "segment" if source.get("kind") == "segment" else "webhook"
        labels[f"{prefix}:{source.get('id')}"] = f"{source.get('name')} ({source.get('kind')})"
    return labels


def replay_said(rejected_id: int, outcome: Mapping[str, Any]) -> tuple[bool, str]:
    """What a replay of one rejected event did, as (taken, sentence): accepted, already
    stored, or refused again with intake's reason."""
    kind = outcome.get("outcome")
    if kind == "accepted":
        return True, f"Rejected event {rejected_id} replayed: accepted."
    if kind == "duplicate":
        return True, f"Rejected event {rejected_id} replayed: it was stored already."
    reason = outcome.get("reason") or "no reason given"
    return False, f"Rejected event {rejected_id} replayed and refused again: {reason}"


def bulk_replay_said(result: Mapping[str, Any]) -> str:
    """What a replay of every matching rejected event did, in one sentence."""
    accepted = int(result.get("accepted") or 0)
    duplicates = int(result.get("duplicates") or 0)
    rejected = int(result.get("rejected") or 0)
    total = accepted + duplicates + rejected
    if total == 0:
        return "No unresolved rejected event matched: nothing was replayed."
    return (
        f"Replayed {total}: {accepted} accepted, {duplicates} stored already,"
        f" {rejected} refused again."
    )


def short_json(value: Any, limit: int = 300) -> str:
    """A raw body as compact text, cut to ``limit`` characters (the whole is in the API)."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
