"""How values read on a page: money from integer minor units, ages, shares (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta

# ISO 4217 currencies without minor units; the rest have two (the platform's currencies).
_ZERO_DECIMAL = frozenset(
    {
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "ISK",
        "JPY",
        "KMF",
        "KRW",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    }
)


def money(minor: int | None, currency: str = "") -> str:
    """``123456, "EUR"`` as ``1,234.56 EUR``, in integers throughout (never a float)."""
    if minor is None:
        return "—"
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    if currency.upper() in _ZERO_DECIMAL:
        text = f"{sign}{abs(minor):,}"
    else:
        text = f"{sign}{whole:,}.{cents:02d}"
    return f"{text} {currency}".rstrip()


def share(part: int, whole: int) -> str:
    """``part`` as a percentage of ``whole`` with one decimal, rounded half up; ``—`` of 0."""
    if whole <= 0:
        return "—"
    tenths = (part * 1000 * 2 + whole) // (whole * 2)
    return f"{tenths // 10}.{tenths % 10} %"


def age(seconds: float) -> str:
    """A duration as a person says it: ``45 s``, ``12 min``, ``3 h 5 min``, ``4 d 2 h``."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def since(then: datetime, now: datetime) -> str:
    """How long ago ``then`` was."""
    return age((now - then).total_seconds())


def duration(value: timedelta | None) -> str:
    """A credit's life and the like, in days."""
    if value is None:
        return "—"
    return age(value.total_seconds())


def when(moment: datetime | None) -> str:
    """A timestamp in UTC to the second, as the API gives it."""
    if moment is None:
        return "—"
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
