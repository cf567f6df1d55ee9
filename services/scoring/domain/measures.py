"""The ten health measures: what each one reads from ingest's windows, and which way is good.

A measure's raw value is a plain number (days, a ratio, a count, a percent, a score) or None
when the account gives no data for it. None is not 0: an account that never sent an event has
not "used zero core features", it has told us nothing, so its weight is spread over the
measures that do have data (``health.score_health``) rather than dragging the score down.

Product-usage measures (login recency, active-user ratio, core-feature breadth, key-action
trend, integrations, champion present) are missing when the account never sent any event
(``seen.events.first`` is None): no tracking is installed yet, so usage is unknown.
Support, sentiment and billing measures come from other systems and are known regardless.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from types import MappingProxyType
from typing import Literal

from shared.contracts import AccountWindows, SeenDates, TicketSeverity

Direction = Literal["higher", "lower"]

# Open tickets weigh by severity: one urgent ticket is a bigger burden than several low ones.
SEVERITY_WEIGHTS: Mapping[TicketSeverity, int] = MappingProxyType(
    {"low": 1, "medium": 2, "high": 3, "urgent": 5}
)
# The trend is a percent change capped both ways, so one quiet month before a busy one (or a
# tiny base) cannot swing the measure past what any threshold distinguishes.
TREND_CAP = 100.0
# "Active in the last 30 days" is as_of and the 29 days before it, as ingest counts windows.
RECENT_DAYS = 30


@dataclass(frozen=True)
class Measure:
    """A health measure: its name, which way is better, its unit and what it means."""

    name: str
    direction: Direction
    unit: str
    description: str

    @property
    def higher_is_better(self) -> bool:
        """True when a larger raw value is healthier."""
        return self.direction == "higher"


_MEASURES = (
    Measure(
        "login_recency",
        "lower",
        "days",
        "Days from the account's last login to the scoring day; with none ever, since the"
        " contract started if the account never sent an event, else missing",
    ),
    Measure(
        "active_user_ratio",
        "higher",
        "ratio",
        "Distinct users active in 30 days / seats purchased; missing when no seats are bought",
    ),
    Measure(
        "core_feature_breadth",
        "higher",
        "features",
        "Distinct core features used in the last 30 days",
    ),
    Measure(
        "key_action_trend",
        "higher",
        "percent",
        "Change of key actions in the last 30 days against the 30 before, capped to ±100%",
    ),
    Measure(
        "integrations",
        "higher",
        "integrations",
        "Integration events over the account's whole history",
    ),
    Measure(
        "support_burden",
        "lower",
        "weighted tickets",
        "Open tickets weighted by severity (low 1, medium 2, high 3, urgent 5)",
    ),
    Measure("nps", "higher", "score 0-10", "Latest NPS response; missing when none"),
    Measure("csat", "higher", "score 1-5", "Latest CSAT response; missing when none"),
    Measure(
        "payment_failures",
        "lower",
        "failures",
        "Failed payments in the last 60 days",
    ),
    Measure(
        "champion_present",
        "higher",
        "yes 1 / no 0",
        "1 when the account's champion user was active in the last 30 days, else 0",
    ),
)

MEASURES: Mapping[str, Measure] = MappingProxyType({m.name: m for m in _MEASURES})
# The fixed order measures are listed in, everywhere (snapshot, validation messages).
MEASURE_NAMES: tuple[str, ...] = tuple(m.name for m in _MEASURES)


SeenKind = Literal["events", "logins", "key_actions", "integrations"]


def seen(windows: AccountWindows, kind: SeenKind) -> SeenDates:
    """The first and last day a kind of activity was seen (both None when never)."""
    # Ingest may leave a kind out when nothing of it was ever seen.
    return windows.seen.get(kind) or SeenDates()


def ever_sent_events(windows: AccountWindows) -> bool:
    """Whether the account ever sent a product event."""
    return seen(windows, "events").first is not None


# How long a new contract may go without a product event before its silence counts as
# zero use rather than as no data yet (the integration may still be being set up).
SILENT_START_DAYS = 14


def usage_known(windows: AccountWindows) -> bool:
    """Whether the account's product usage is known: it sent events, or its contract is old
    enough that sending none means using none. Before either, usage measures are missing:
    a brand-new account is not scored as idle, and an idle one is never scored as unknown
    (which would spread the usage weights over the rest and make it look healthy)."""
    if ever_sent_events(windows):
        return True
    start = windows.account.contract_start if windows.account is not None else None
    return start is not None and (windows.as_of - start).days >= SILENT_START_DAYS


def _days_without_login(windows: AccountWindows) -> float | None:
    """Days since the last login. With none ever: missing for an account that uses the
    product otherwise (API traffic, say); for one that never sent an event at all, the days
    since its contract started, once that silence counts (``usage_known``)."""
    last_login = seen(windows, "logins").last
    if last_login is not None:
        return float((windows.as_of - last_login).days)
    start = windows.account.contract_start if windows.account is not None else None
    if ever_sent_events(windows) or not usage_known(windows) or start is None:
        return None
    return float((windows.as_of - start).days)


def within_last_days(day: date | None, as_of: date, days: int = RECENT_DAYS) -> bool:
    """Whether ``day`` falls in the ``days`` days ending ``as_of`` (as_of included)."""
    return day is not None and as_of - timedelta(days=days - 1) <= day <= as_of


def key_action_trend(last_30: int, last_60: int) -> float | None:
    """Percent change of the last 30 days' key actions against the 30 days before them.

    The prior 30 days are ``last_60 - last_30``. Capped to [-100, +100]; +100 when the prior
    period had none and the last one had some; None when both periods had none (no trend to
    speak of, rather than a flat 0% that would read as "steady").
    """
    prior = max(last_60 - last_30, 0)
    if prior == 0:
        return None if last_30 == 0 else TREND_CAP
    change = (last_30 - prior) * 100.0 / prior
    return max(-TREND_CAP, min(TREND_CAP, change))


def support_burden(open_tickets: Mapping[TicketSeverity, int]) -> float:
    """Open tickets weighted by severity."""
    return float(sum(SEVERITY_WEIGHTS[sev] * max(n, 0) for sev, n in open_tickets.items()))


def raw_values(windows: AccountWindows) -> dict[str, float | None]:
    """Every measure's raw value for one account (None: no data), in ``MEASURE_NAMES`` order."""
    as_of = windows.as_of
    account = windows.account
    usage = usage_known(windows)
    login_recency = _days_without_login(windows)

    seats = account.seats_purchased if account is not None else 0
    ratio = windows.active_users_30 / seats if usage and seats > 0 else None

    champion: float | None = None
    if usage and account is not None:
        # No champion named counts as "no champion present": a real risk, not unknown data.
        active = account.champion_user_id is not None and within_last_days(
            windows.champion_last_active, as_of
        )
        champion = 1.0 if active else 0.0

    values: dict[str, float | None] = {
        "login_recency": login_recency,
        "active_user_ratio": ratio,
        "core_feature_breadth": float(windows.core_features_30) if usage else None,
        "key_action_trend": (
            key_action_trend(windows.sum_30.key_actions, windows.sum_60.key_actions)
            if usage
            else None
        ),
        "integrations": float(windows.integrations_total) if usage else None,
        "support_burden": support_burden(windows.open_tickets),
        "nps": float(windows.nps.score) if windows.nps is not None else None,
        "csat": float(windows.csat.score) if windows.csat is not None else None,
        "payment_failures": float(windows.sum_60.payment_failures),
        "champion_present": champion,
    }
    return values
