"""What each event counts for, and how a set of new events adds up per account and day."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

# Counters summed per account and day; the last four come from support and billing signals.
COUNTERS = (
    "events",
    "logins",
    "key_actions",
    "integrations",
    "api_calls",
    "exports",
    "tickets_opened",
    "tickets_closed",
    "payment_failures",
    "invoices_paid",
)


@dataclass(frozen=True)
class EventMap:
    """Which event names are logins, key actions, features, integrations, API calls, exports."""

    logins: frozenset[str] = frozenset()
    key_actions: frozenset[str] = frozenset()
    core_features: Mapping[str, str] = field(default_factory=dict)
    integrations: frozenset[str] = frozenset()
    api_calls: frozenset[str] = frozenset()
    exports: frozenset[str] = frozenset()

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> EventMap:
        """Build from the stored JSON document."""
        return cls(
            logins=frozenset(doc.get("logins", ())),
            key_actions=frozenset(doc.get("key_actions", ())),
            core_features=dict(doc.get("core_features", {})),
            integrations=frozenset(doc.get("integrations", ())),
            api_calls=frozenset(doc.get("api_calls", ())),
            exports=frozenset(doc.get("exports", ())),
        )

    def to_document(self) -> dict[str, Any]:
        """The JSON document that is stored and served."""
        return {
            "logins": sorted(self.logins),
            "key_actions": sorted(self.key_actions),
            "core_features": dict(sorted(self.core_features.items())),
            "integrations": sorted(self.integrations),
            "api_calls": sorted(self.api_calls),
            "exports": sorted(self.exports),
        }


DEFAULT_EVENT_MAP = EventMap(
    logins=frozenset({"login", "Signed In", "user_login"}),
    key_actions=frozenset(
        {"report_created", "dashboard_shared", "workflow_run", "Order Completed"}
    ),
    core_features={
        "report_created": "reports",
        "dashboard_viewed": "dashboards",
        "dashboard_shared": "dashboards",
        "workflow_run": "automation",
        "alert_configured": "alerts",
    },
    integrations=frozenset({"integration_connected"}),
    api_calls=frozenset({"api_call"}),
    exports=frozenset({"export", "data_exported"}),
)


@dataclass(frozen=True)
class Activity:
    """The rollup-relevant facts of one stored event."""

    account_id: str
    user_id: str | None
    name: str
    timestamp: datetime  # aware, in any offset: it counts on its UTC day


@dataclass
class DayTotals:
    """What new events add to one account's day."""

    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    users: set[str] = field(default_factory=set)
    features: set[str] = field(default_factory=set)


def classify(name: str, event_map: EventMap) -> tuple[dict[str, int], str | None]:
    """The counters an event named ``name`` increments, and the core feature it uses."""
    counts = dict.fromkeys(COUNTERS, 0)
    counts |= {
        "events": 1,
        "logins": int(name in event_map.logins),
        "key_actions": int(name in event_map.key_actions),
        "integrations": int(name in event_map.integrations),
        "api_calls": int(name in event_map.api_calls),
        "exports": int(name in event_map.exports),
    }
    return counts, event_map.core_features.get(name)


def aggregate(
    activities: Iterable[Activity], event_map: EventMap
) -> dict[tuple[str, date], DayTotals]:
    """Sum new events per (account, UTC day); late events land on their own day."""
    totals: dict[tuple[str, date], DayTotals] = defaultdict(DayTotals)
    for act in activities:
        # The UTC day, whatever offset the time is given in (a rollup day is a UTC day).
        day_totals = totals[(act.account_id, act.timestamp.astimezone(UTC).date())]
        counts, feature = classify(act.name, event_map)
        for key, value in counts.items():
            day_totals.counters[key] += value
        if act.user_id is not None:
            day_totals.users.add(act.user_id)
        if feature is not None:
            day_totals.features.add(feature)
    return dict(totals)
