"""Test inputs for scoring's pure rules: AccountWindows with sensible defaults.

Every date derives from ``AS_OF``, an arbitrary fixed base day (never today's date), so the
tests mean the same on any calendar day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.contracts import AccountFacts, AccountWindows, Counters, SeenDates, Survey

AS_OF = date(2030, 6, 15)
NOW = datetime(2030, 6, 15, 6, 0, tzinfo=UTC)

Span = tuple[int, int] | None  # (first, last) as days before AS_OF; None: never seen


def ago(days: int) -> date:
    """The day ``days`` before AS_OF (negative: after it)."""
    return AS_OF - timedelta(days=days)


def facts(**changes: Any) -> AccountFacts:
    """An active annual SMB account of 10 seats, 200 days into its contract."""
    fields: dict[str, Any] = {
        "external_id": "acct-1",
        "name": "Acme",
        "motion_segment": "smb",
        "plan": "pro",
        "billing_period": "annual",
        "mrr_minor": 50_000,
        "currency": "EUR",
        "seats_purchased": 10,
        "contract_start": ago(200),
        "renewal_date": ago(-165),
        "status": "active",
        "champion_user_id": "u-champion",
        "cancel_intent": False,
    }
    fields.update(changes)
    return AccountFacts(**fields)


def _seen(span: Span) -> SeenDates:
    return SeenDates() if span is None else SeenDates(first=ago(span[0]), last=ago(span[1]))


def windows(
    *,
    account: AccountFacts | None = None,
    no_account: bool = False,
    events: Span = (300, 0),
    logins: Span = (300, 1),
    key_actions: Span = (290, 0),
    integrations: Span = (280, 100),
    key_actions_30: int = 40,
    key_actions_60: int = 80,
    payment_failures_60: int = 0,
    nps: int | None = 9,
    csat: int | None = 5,
    open_tickets: dict[str, int] | None = None,
    as_of: date = AS_OF,
    **changes: Any,
) -> AccountWindows:
    """One account's windows: a healthy, steadily used SMB account unless told otherwise.

    ``events``/``logins``/``key_actions``/``integrations`` are (first, last) days before
    AS_OF; other AccountWindows fields can be set directly through ``changes``.
    """
    fields: dict[str, Any] = {
        "account_id": "acct-1",
        "as_of": as_of,
        "account": None if no_account else (account if account is not None else facts()),
        "sum_7": Counters(key_actions=key_actions_30 // 4),
        "sum_30": Counters(key_actions=key_actions_30),
        "sum_60": Counters(key_actions=key_actions_60, payment_failures=payment_failures_60),
        "integrations_total": 2,
        "active_users_7": 6,
        "active_users_30": 8,
        "core_features_7": 3,
        "core_features_30": 4,
        "seen": {
            "events": _seen(events),
            "logins": _seen(logins),
            "key_actions": _seen(key_actions),
            "integrations": _seen(integrations),
        },
        "key_action_days": 0,
        "weekly_active_users": [6, 6, 5, 6, 5, 6, 6, 5],
        "champion_last_active": ago(1),
        "paid_months": 6,
        "open_tickets": open_tickets if open_tickets is not None else {},
        "nps": None if nps is None else Survey(score=nps, responded_at=NOW - timedelta(days=20)),
        "csat": None if csat is None else Survey(score=csat, responded_at=NOW - timedelta(days=9)),
    }
    fields.update(changes)
    return AccountWindows(**fields)


def mask(*days_ago: int) -> int:
    """A key_action_days bitmask with key actions on these days before AS_OF."""
    out = 0
    for d in days_ago:
        out |= 1 << d
    return out
