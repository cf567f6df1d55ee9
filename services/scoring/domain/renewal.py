"""Contract timing: days since the contract started, days to renewal, and the renewal window.

Renewal work runs on 120/90/60-day milestones (article 003), and programs trigger on entering
each window, so the window is the narrowest of the three the renewal falls in.
"""

from __future__ import annotations

from datetime import date

from shared.contracts import RenewalWindow

# Narrowest first: 45 days to renewal is in the 60-day window, not the 90- or 120-day one.
WINDOWS: tuple[RenewalWindow, ...] = (60, 90, 120)


def days_since_contract_start(contract_start: date | None, as_of: date) -> int | None:
    """Days from the contract's start to ``as_of`` (0 on the start day; negative before it);
    None when the start is unknown."""
    return None if contract_start is None else (as_of - contract_start).days


def days_to_renewal(renewal_date: date | None, as_of: date) -> int | None:
    """Days from ``as_of`` to the renewal date (0 on the day; negative once it has passed);
    None when unknown."""
    return None if renewal_date is None else (renewal_date - as_of).days


def renewal_window(days_to_renewal: int | None) -> RenewalWindow | None:
    """60 when 0 <= days <= 60, 90 when <= 90, 120 when <= 120; None when further off, once
    the renewal has passed (negative days), or when it is unknown."""
    if days_to_renewal is None or days_to_renewal < 0:
        return None
    for window in WINDOWS:
        if days_to_renewal <= window:
            return window
    return None
