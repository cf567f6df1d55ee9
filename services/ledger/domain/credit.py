"""What the ledger tells offers when a transaction moves an offer's credit (``credit.moved``),
free of I/O.

Only lots whose grant carries an ``offer_id`` are told of; every other lot costs nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from shared.contracts import CreditMoved, CreditMovementKind


def movement_kind(kind: str, amount: int) -> CreditMovementKind:
    """What a transaction of ``kind`` did to a lot it moved by ``amount`` (signed).

    Grants, redemptions and expiries say so. A reversal that gives credit back into the lot
    (a redemption undone) is a ``redemption_reversal``; one that takes credit out of it (the
    grant undone, e.g. by a revoke) is a ``reversal``. The contract has no kind for an
    admin's adjustment: one that takes from an offer's lot is told as a ``reversal`` (credit
    taken back other than by redemption or expiry), its own reversal, giving it back, as a
    ``redemption_reversal``.
    """
    if kind in ("grant", "redemption", "expiry"):
        return kind  # type: ignore[return-value]  # the three names are the contract's
    return "redemption_reversal" if amount > 0 else "reversal"


def credit_moved(
    *,
    offer_id: str,
    kind: str,
    transaction_id: uuid.UUID,
    transaction_hash: str,
    amount: int,
    remaining: int,
    unit: str,
    invoice_id: str | None,
    expires_at: datetime,
    effective_at: datetime,
) -> dict[str, Any]:
    """The ``credit.moved`` payload of one lot movement (``amount`` signed, as the movement
    is), read through the contract so the ledger never sends what offers cannot read."""
    told = movement_kind(kind, amount)
    return CreditMoved(
        offer_id=offer_id,
        kind=told,
        transaction_id=transaction_id,
        hash=transaction_hash,
        amount_minor=abs(amount),
        remaining_minor=remaining,
        unit=unit,
        invoice_id=invoice_id,
        expires_at=expires_at if told == "grant" else None,
        effective_at=effective_at,
    ).model_dump(mode="json")
