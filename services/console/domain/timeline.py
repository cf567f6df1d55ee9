"""An offer's story as one timeline, from its trace (pure): each step with when, who, what
and why, in the order it happened."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Step:
    """One step of an offer's story."""

    at: datetime
    what: str
    who: str
    why: str | None = None
    # Figures that belong to the step (amounts, hashes, ids), in display order.
    facts: dict[str, str] = field(default_factory=dict)


def _at(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def offer_timeline(trace: dict[str, Any]) -> list[Step]:
    """The steps of an offer's trace (``GET /v1/offers/{id}/trace``), oldest first: the
    snapshot its decision saw, the decision and its reason, every event of the offer (each
    approval among them), and each ledger transaction of its credit with its hash."""
    steps: list[Step] = []
    snapshot = trace.get("snapshot") or {}
    if snapshot.get("computed_at"):
        facts = {
            k: str(snapshot[k])
            for k in ("name", "colour", "health_score", "tier", "segment", "motion")
            if snapshot.get(k) is not None
        }
        steps.append(Step(_at(snapshot["computed_at"]), "Account scored", "scoring", None, facts))
    decision = trace.get("decision")
    if decision:
        steps.append(
            Step(
                _at(decision["decided_at"]),
                f"Decision: {decision['outcome']}",
                "offers",
                decision.get("reason"),
                {"program": f"{decision['program_id']} v{decision['program_version']}"},
            )
        )
    for event in trace.get("events") or []:
        detail = event.get("detail") or {}
        facts = {str(k): str(v) for k, v in detail.items()}
        facts["state"] = str(event["state"])
        steps.append(
            Step(
                _at(event["at"]),
                str(event["event"]).replace("_", " ").capitalize(),
                str(event["principal"]),
                event.get("comment"),
                facts,
            )
        )
    for tx in trace.get("ledger_transactions") or []:
        facts = {
            "transaction": str(tx["transaction_id"]),
            "hash": str(tx["hash"]),
            "amount_minor": str(tx["amount_minor"]),
            "remaining_minor": str(tx["remaining_minor"]),
        }
        if tx.get("invoice_id"):
            facts["invoice"] = str(tx["invoice_id"])
        steps.append(Step(_at(tx["at"]), f"Ledger: {tx['kind']}", "ledger", None, facts))
    # Stable: steps at the same instant keep the order above (decision before its offer).
    return sorted(steps, key=lambda s: s.at)
