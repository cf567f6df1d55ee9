"""An account's fact history: which facts are tracked, what a change is, what was in force when.

Every row of ``ingest.account_history`` holds the complete tracked facts in force from its
``effective_at`` on (until the next row, in ``(effective_at, id)`` order), plus what changed
against the facts in force just before it. Rows are self-contained, so a change recorded late
(a CRM backfill of the past, a billing event that took a while to arrive) is placed at its
effective time without making the rows after it wrong: each of those still says what the facts
were from its own time on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

# The facts whose every change is recorded (the rest of an account, its name or region, is not).
TRACKED_FIELDS: tuple[str, ...] = (
    "status",
    "plan",
    "billing_period",
    "mrr_minor",
    "currency",
    "seats_purchased",
    "renewal_date",
    "cancel_intent",
)

Facts = Mapping[str, Any]


@dataclass(frozen=True)
class Recorded:
    """A history row as the rules need it: when its facts took effect, and the facts."""

    effective_at: datetime
    facts: Facts


def tracked(values: Mapping[str, Any]) -> dict[str, Any]:
    """The tracked facts of an account (or of a body giving all of them)."""
    return {name: values[name] for name in TRACKED_FIELDS}


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def changes(before: Facts | None, after: Facts) -> dict[str, dict[str, Any]]:
    """The tracked facts that differ, as ``{field: {"old": ..., "new": ...}}`` in JSON form
    (dates as ISO strings); every fact, with ``old`` null, when there was nothing before."""
    return {
        name: {"old": None if before is None else _json(before[name]), "new": _json(after[name])}
        for name in TRACKED_FIELDS
        if before is None or before[name] != after[name]
    }


def in_force(history: Sequence[Recorded], at: datetime) -> Recorded | None:
    """The row in force at ``at`` (the last one effective at or before it), or None.

    ``history`` is in history order: ``(effective_at, id)``.
    """
    found = None
    for row in history:
        if row.effective_at > at:
            break
        found = row
    return found


def is_latest(history: Sequence[Recorded], at: datetime) -> bool:
    """Whether a change effective at ``at`` comes after every recorded row (or there is none):
    then it is what the account holds now; otherwise newer facts are in force."""
    return not history or at >= history[-1].effective_at
