"""Snapshots as scoring sends them, for tests of what offers decides on them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.offers.domain.decisions import in_holdout
from shared.contracts import Snapshot


def snapshot(account_id: str, now: datetime | None = None, **changes: Any) -> dict[str, Any]:
    """A valid ``Snapshot`` in its JSON form: a steady gold annual account, 60 seats of which
    45 active, ARR 60,000.00 USD, renewal in 200 days; ``changes`` replace fields."""
    at = now or datetime.now(UTC)
    values: dict[str, Any] = {
        "account_id": account_id,
        "as_of": at.date().isoformat(),
        "computed_at": at.isoformat(),
        "scorecard_motion": "mid_market",
        "scorecard_version": 1,
        "name": f"Account {account_id}",
        "motion_segment": "mid_market",
        "plan": "business",
        "status": "active",
        "billing_period": "annual",
        "currency": "USD",
        "mrr_minor": 500_000,
        "arr_minor": 6_000_000,
        "seats_purchased": 60,
        "active_seats": 45,
        "seat_utilization": 0.75,
        "health_score": 72.5,
        "computed_colour": "green",
        "colour": "green",
        "override": None,
        "health_change_7d": 1.5,
        "health_change_30d": -2.0,
        "measures": [],
        "drivers": [],
        "rfm": {
            "recency_days": 2,
            "frequency": 40,
            "monetary_minor": 500_000,
            "r": 4,
            "f": 3,
            "m": 4,
        },
        "segment": "steady",
        "segment_rule": "none of the other segments",
        "tier": "gold",
        "days_since_contract_start": 165,
        "days_to_renewal": 200,
        "renewal_window": None,
        "paid_months": 5,
        "cancel_intent": False,
        "nps": 8,
        "milestones": {},
    }
    values.update(changes)
    return Snapshot.model_validate(values).model_dump(mode="json")


def due_for_renewal(account_id: str, days: int = 59, **changes: Any) -> dict[str, Any]:
    """A gold account whose renewal is ``days`` away (inside a 60-day renewal trigger)."""
    return snapshot(account_id, days_to_renewal=days, renewal_window=60, **changes)


def delivery(*snapshots: dict[str, Any]) -> dict[str, Any]:
    """A delivery of ``snapshot.changed`` messages as scoring's outbox posts it."""
    return {
        "messages": [
            {
                "id": str(uuid.uuid4()),
                "topic": "snapshot.changed",
                "source": "scoring",
                "payload": {"snapshot": s, "changes": ["renewal_window"]},
            }
            for s in snapshots
        ]
    }


def treated_account(program_id: str, prefix: str, percent: Decimal = Decimal(10)) -> str:
    """A fresh account id outside the program's holdout."""
    while True:
        candidate = f"{prefix}-{uuid.uuid4().hex[:10]}"
        if not in_holdout(program_id, candidate, percent):
            return candidate


def held_out_account(program_id: str, prefix: str, percent: Decimal = Decimal(10)) -> str:
    """A fresh account id inside the program's holdout."""
    while True:
        candidate = f"{prefix}-{uuid.uuid4().hex[:10]}"
        if in_holdout(program_id, candidate, percent):
            return candidate


def days_from(now: datetime, days: int) -> str:
    """An instant ``days`` from ``now``, as the API takes it."""
    return (now + timedelta(days=days)).isoformat()
