"""Tiers by active seats (PRODUCT §3): silver up to 25, gold 26-100, platinum above 100."""

from __future__ import annotations

from shared.contracts import Tier

SILVER_MAX = 25
GOLD_MAX = 100


def tier(active_seats: int) -> Tier:
    """The tier for an account's active seats (distinct users active in the last 30 days)."""
    if active_seats <= SILVER_MAX:
        return "silver"
    if active_seats <= GOLD_MAX:
        return "gold"
    return "platinum"
