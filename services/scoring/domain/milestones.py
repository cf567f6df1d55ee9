"""Milestones: the moments an account's product journey passes, each with the day it did.

Once reached, a milestone stays reached with its first date, even after the window that showed
it has moved on (a 5-day streak two months ago is still a streak the account once had). When a
later computation finds an earlier date (late events, a backfill), the earlier date wins.

- ``first_key_action``: the first day a key action was seen (``seen.key_actions.first``).
- ``first_integration``: the first day an integration event was seen.
- ``ten_active_users``: 10 or more distinct users active in the last 30 days; dated ``as_of``
  of the first computation that saw it (ingest gives no history of the count).
- ``key_action_streak_5d``: five consecutive days with key actions in the 60-day
  ``key_action_days`` mask; dated the fifth day of the earliest such run in the mask.
- ``weekly_active_streak_4w``: four consecutive weeks (the 8 in ``weekly_active_users``) each
  with an active user; dated the last day of the fourth week of the earliest such run.
- ``onboarding_complete``: the account reached its first value (a first key action), uses the
  product broadly (>= 3 distinct core features in the last 30 days) and connected it to its
  other tools (>= 1 integration ever), the time-to-value milestones article 003 lists, in
  what ingest can see. Dated ``as_of`` of the first computation that saw all three, since
  breadth is only known for the current window.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

from services.scoring.domain.measures import seen
from shared.contracts import AccountWindows, Milestone

TEN_ACTIVE_USERS = 10
KEY_ACTION_STREAK_DAYS = 5
WEEKLY_STREAK_WEEKS = 4
MASK_DAYS = 60
ONBOARDING_CORE_FEATURES = 3
ONBOARDING_INTEGRATIONS = 1


def key_action_streak_day(key_action_days: int, as_of: date) -> date | None:
    """The fifth day of the earliest run of five consecutive key-action days in the mask (bit
    i = day as_of - i), or None when there is no such run."""
    run = 0
    for i in range(MASK_DAYS - 1, -1, -1):  # oldest day first
        if key_action_days >> i & 1:
            run += 1
            if run == KEY_ACTION_STREAK_DAYS:
                return as_of - timedelta(days=i)
        else:
            run = 0
    return None


def weekly_streak_day(weekly_active_users: list[int], as_of: date) -> date | None:
    """The last day of the fourth week of the earliest run of four consecutive weeks with
    active users ([0] = the 7 days ending as_of, [k] ends as_of - 7k), or None."""
    run = 0
    for k in range(len(weekly_active_users) - 1, -1, -1):  # oldest week first
        if weekly_active_users[k] > 0:
            run += 1
            if run == WEEKLY_STREAK_WEEKS:
                return as_of - timedelta(days=7 * k)
        else:
            run = 0
    return None


def _found(windows: AccountWindows, previous: Mapping[Milestone, date]) -> dict[Milestone, date]:
    as_of = windows.as_of
    found: dict[Milestone, date] = {}
    first_key_action = seen(windows, "key_actions").first
    if first_key_action is not None:
        found["first_key_action"] = first_key_action
    first_integration = seen(windows, "integrations").first
    if first_integration is not None:
        found["first_integration"] = first_integration
    if windows.active_users_30 >= TEN_ACTIVE_USERS:
        found["ten_active_users"] = as_of
    streak = key_action_streak_day(windows.key_action_days, as_of)
    if streak is not None:
        found["key_action_streak_5d"] = streak
    weekly = weekly_streak_day(windows.weekly_active_users, as_of)
    if weekly is not None:
        found["weekly_active_streak_4w"] = weekly
    has_key_action = "first_key_action" in found or "first_key_action" in previous
    if (
        has_key_action
        and windows.core_features_30 >= ONBOARDING_CORE_FEATURES
        and windows.integrations_total >= ONBOARDING_INTEGRATIONS
    ):
        found["onboarding_complete"] = as_of
    return found


def reached(windows: AccountWindows, previous: Mapping[Milestone, date]) -> dict[Milestone, date]:
    """Every milestone reached so far with its first date: the ``previous`` ones kept, the
    ones these windows show added, the earlier date kept where both have one."""
    result: dict[Milestone, date] = dict(previous)
    for milestone, day in _found(windows, previous).items():
        known = result.get(milestone)
        result[milestone] = day if known is None or day < known else known
    return result
