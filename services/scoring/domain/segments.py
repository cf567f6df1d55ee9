"""Behavioural segments: one per account, by the first rule that matches.

Precedence (first match wins; the rule string names the rule and its numbers):

1. ``hibernating``: the account sent events before, but none in the last 30 days
   (as_of and the 29 days before). Gone quiet is the most specific state, and checked first so
   a silent account is not called merely "at risk" by a stale score.
2. ``at_risk``, the first of:
   a. cancel intent: a cancellation was requested (the strongest churn signal there is;
      article 001 pairs cancel intent with churn-risk plays),
   b. red health: the computed score, as shown to one decimal, below 40,
   c. NPS detractor: the latest NPS is 6 or below,
   d. recency quintile 1: the account's last key action is among the oldest of all active
      accounts, or it never made one.
   Risk outranks every positive segment: an account about to leave must not get a power-user
   perk instead of a save play.
3. ``newly_activated``: the first key action fell in the first 30 days of the contract
   (contract start and the 29 days after; the first event's day when no contract start is
   known) and within the last 30 days.
4. ``expansion_ready``: seat utilization (active users in 30 days / seats purchased) >= 0.9,
   or broad heavy use: >= 4 distinct core features in 30 days and frequency quintile >= 4.
5. ``power_user``: recency quintile 5 and frequency quintile 5.
6. ``steady``: none of the above.

Expansion outranks power user: an account both heavy and full on seats is best served by the
seat offer (which grows revenue) rather than an advocacy perk.
"""

from __future__ import annotations

from services.scoring.domain.health import RED_BELOW, colour, display_score
from services.scoring.domain.measures import RECENT_DAYS, seen, within_last_days
from shared.contracts import AccountWindows, Rfm, Segment

DETRACTOR_MAX = 6
EXPANSION_UTILIZATION = 0.9
EXPANSION_CORE_FEATURES = 4
EXPANSION_FREQUENCY_QUINTILE = 4
# "The first 30 days of the contract": the start day and the 29 after, counted like windows.
ACTIVATION_DAYS = RECENT_DAYS


def _hibernating(windows: AccountWindows) -> str | None:
    events = seen(windows, "events")
    if events.first is None or within_last_days(events.last, windows.as_of):
        return None
    if events.last is None:
        return "no events in the last 30 days"
    days = (windows.as_of - events.last).days
    return f"no events in the last 30 days (last event {events.last}, {days} days ago)"


def _at_risk(windows: AccountWindows, health_score: float | None, rfm: Rfm) -> str | None:
    if windows.account is not None and windows.account.cancel_intent:
        return "cancel intent"
    if health_score is not None and colour(health_score) == "red":
        return f"health red ({display_score(health_score):.1f} < {RED_BELOW:g})"
    if windows.nps is not None and windows.nps.score <= DETRACTOR_MAX:
        return f"NPS detractor ({windows.nps.score} <= {DETRACTOR_MAX})"
    if rfm.r == 1:
        if rfm.recency_days is None:
            return "recency quintile 1 (no key action yet)"
        return f"recency quintile 1 ({rfm.recency_days} days since the last key action)"
    return None


def _newly_activated(windows: AccountWindows) -> str | None:
    first_key_action = seen(windows, "key_actions").first
    if first_key_action is None:
        return None
    account = windows.account
    contract_start = account.contract_start if account is not None else None
    start = contract_start if contract_start is not None else seen(windows, "events").first
    if start is None:
        return None
    after_start = (first_key_action - start).days
    if not 0 <= after_start < ACTIVATION_DAYS:
        return None
    if not within_last_days(first_key_action, windows.as_of):
        return None
    since = "contract start" if contract_start is not None else "first event"
    return f"first key action {first_key_action}, {after_start} days after {since} {start}"


def _expansion_ready(windows: AccountWindows, rfm: Rfm) -> str | None:
    seats = windows.account.seats_purchased if windows.account is not None else 0
    active = windows.active_users_30
    if seats > 0 and active / seats >= EXPANSION_UTILIZATION:
        return (
            f"seat utilization {active / seats:.2f} >= {EXPANSION_UTILIZATION:g} "
            f"({active} active of {seats} seats)"
        )
    features = windows.core_features_30
    if features >= EXPANSION_CORE_FEATURES and rfm.f >= EXPANSION_FREQUENCY_QUINTILE:
        return (
            f"{features} core features in 30 days (>= {EXPANSION_CORE_FEATURES}) and "
            f"frequency quintile {rfm.f} (>= {EXPANSION_FREQUENCY_QUINTILE})"
        )
    return None


def _power_user(rfm: Rfm) -> str | None:
    if rfm.r == 5 and rfm.f == 5:
        return "recency quintile 5 and frequency quintile 5"
    return None


def segment(windows: AccountWindows, health_score: float | None, rfm: Rfm) -> tuple[Segment, str]:
    """The account's segment and the rule that placed it (see the module's precedence).

    ``health_score`` is the exact computed score (``health.Health.score``); ``rfm`` the
    account's quintiles.
    """
    rule = _hibernating(windows)
    if rule is not None:
        return "hibernating", rule
    rule = _at_risk(windows, health_score, rfm)
    if rule is not None:
        return "at_risk", rule
    rule = _newly_activated(windows)
    if rule is not None:
        return "newly_activated", rule
    rule = _expansion_ready(windows, rfm)
    if rule is not None:
        return "expansion_ready", rule
    rule = _power_user(rfm)
    if rule is not None:
        return "power_user", rule
    return "steady", "no other rule matched"
