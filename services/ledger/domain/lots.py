"""Which credit lots a redemption draws from: those that expire first, then the oldest."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal


@dataclass(frozen=True)
class Lot:
    """A credit lot as redemption sees it."""

    id: uuid.UUID
    remaining: int
    expires_at: datetime
    granted_at: datetime


@dataclass(frozen=True)
class Allocation:
    """How much of a transaction's amount one lot gives or takes back."""

    lot_id: uuid.UUID
    amount: int


def allocate(lots: Iterable[Lot], amount: int, now: datetime) -> list[Allocation]:
    """Take up to ``amount`` from unexpired lots, FIFO by expiry, then grant time, then id.

    Returns the allocations (positive amounts); their sum is what can be applied.
    """
    if amount < 0:
        raise ValueError("amount must not be negative")
    usable = sorted(
        (lot for lot in lots if lot.remaining > 0 and lot.expires_at > now),
        key=lambda lot: (lot.expires_at, lot.granted_at, lot.id),
    )
    out: list[Allocation] = []
    left = amount
    for lot in usable:
        if left == 0:
            break
        take = min(lot.remaining, left)
        out.append(Allocation(lot.id, take))
        left -= take
    return out


LotStatus = Literal["active", "used", "expired"]


def lot_status(remaining: int, expires_at: datetime, now: datetime) -> LotStatus:
    """Expired once its time has come (whatever is left, until swept); else active while it
    has credit left, used when it has none."""
    if expires_at <= now:
        return "expired"
    return "active" if remaining > 0 else "used"


def total(allocations: Sequence[Allocation]) -> int:
    """The sum of allocations."""
    return sum(a.amount for a in allocations)
