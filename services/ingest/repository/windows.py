"""Window aggregates' SQL: what scoring reads of many accounts as of a UTC day.

A window of N days is the N UTC days ending on and including ``as_of``: ``day > as_of - N``
(so ``as_of - 6`` is in the 7-day window and ``as_of - 7`` is not). Nothing after ``as_of``
is counted. One statement answers for all the accounts of a call (never a round trip per
account), reading each table through its primary key (account id, then a day range); a
value an account has no rows for comes back NULL or not at all (the caller fills zeros).
tests/db/test_signal_windows.py holds every rule below to a hand count.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Literal, get_args

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.models import Account
from shared.contracts import Counters

# The daily rollup counters summed over the windows (the fields of ``Counters``; each is a
# column of ingest.daily_rollups).
WINDOW_COUNTERS: tuple[str, ...] = tuple(Counters.model_fields)
SUM_WINDOWS = (7, 30, 60)
# Activity kinds whose first and last day are reported (counters of ingest.daily_rollups).
SeenKind = Literal["events", "logins", "key_actions", "integrations"]
SEEN_KINDS: tuple[SeenKind, ...] = get_args(SeenKind)
KEY_ACTION_BITS = 60  # key_action_days: bit i is day as_of - i, i < 60
WEEKS = 8  # weekly_active_users: week k is days as_of - 7k - 6 .. as_of - 7k

_AS_OF = "CAST(:as_of AS date)"
_IDS = "CAST(:account_ids AS text[])"


def _rollup_windows_sql() -> str:
    sums = ",\n            ".join(
        f"coalesce(sum({c}) FILTER (WHERE day > {_AS_OF} - {n}), 0) AS {c}_{n}"
        for n in SUM_WINDOWS
        for c in WINDOW_COUNTERS
    )
    seen = ",\n            ".join(
        f"min(day) FILTER (WHERE {k} > 0) AS {k}_first, max(day) FILTER (WHERE {k} > 0) AS {k}_last"
        for k in SEEN_KINDS
    )
    # Only fixed names from this module are interpolated; values are bound parameters.
    # Each account's days are aggregated on their own (a lateral subquery on the primary key):
    # the plan does not hang on how many rows the server guesses an id list matches. Grouping
    # all of them at once ran at 0.7 s a page, until the server switched the prepared
    # statement to its generic plan, at 57 s a page. Paid days are collected, and their
    # months counted after: a DISTINCT aggregate would sort every row by month.
    return f"""
    SELECT a.account_id, r.*, (
        SELECT count(DISTINCT to_char(CAST(paid AS timestamp), 'YYYY-MM'))
        FROM unnest(r.paid_days) AS paid
    ) AS paid_months
    FROM unnest({_IDS}) AS a(account_id)
    CROSS JOIN LATERAL (
        SELECT
            {sums},
            coalesce(sum(integrations), 0) AS integrations_total,
            {seen},
            coalesce(
                bit_or(CAST(1 AS bigint) << ({_AS_OF} - day))
                    FILTER (WHERE key_actions > 0 AND day > {_AS_OF} - {KEY_ACTION_BITS}),
                0
            ) AS key_action_days,
            array_agg(day) FILTER (WHERE invoices_paid > 0) AS paid_days
        FROM ingest.daily_rollups AS d
        WHERE d.account_id = a.account_id AND d.day <= {_AS_OF}
    ) AS r
    """  # noqa: S608


_ROLLUP_WINDOWS = text(_rollup_windows_sql())


def _activity_windows_sql() -> str:
    weeks = ",\n            ".join(
        f"count(*) FILTER (WHERE (weeks & {1 << k}) <> 0) AS week_{k}" for k in range(WEEKS)
    )
    return f"""
    WITH user_days AS (
        SELECT account_id, user_id,
            min({_AS_OF} - day) AS ago,
            bit_or(1 << (({_AS_OF} - day) / 7)) AS weeks
        FROM ingest.daily_active_users
        WHERE account_id = ANY({_IDS})
            AND day > {_AS_OF} - {7 * WEEKS} AND day <= {_AS_OF}
        GROUP BY account_id, user_id
    ),
    users AS (
        SELECT account_id,
            count(*) FILTER (WHERE ago < 7) AS active_users_7,
            count(*) FILTER (WHERE ago < 30) AS active_users_30,
            {weeks}
        FROM user_days GROUP BY account_id
    ),
    feature_days AS (
        SELECT account_id, feature, min({_AS_OF} - day) AS ago
        FROM ingest.daily_features
        WHERE account_id = ANY({_IDS}) AND day > {_AS_OF} - 30 AND day <= {_AS_OF}
        GROUP BY account_id, feature
    ),
    features AS (
        SELECT account_id,
            count(*) FILTER (WHERE ago < 7) AS core_features_7,
            count(*) AS core_features_30
        FROM feature_days GROUP BY account_id
    ),
    champions AS (
        SELECT a.external_id AS account_id, c.day AS champion_last_active
        FROM ingest.accounts AS a
        CROSS JOIN LATERAL (
            SELECT d.day FROM ingest.daily_active_users AS d
            WHERE d.account_id = a.external_id AND d.user_id = a.champion_user_id
                AND d.day <= {_AS_OF}
            ORDER BY d.day DESC LIMIT 1
        ) AS c
        WHERE a.external_id = ANY({_IDS})
    )
    SELECT * FROM users
    FULL JOIN features USING (account_id)
    FULL JOIN champions USING (account_id)
    """  # noqa: S608


_ACTIVITY_WINDOWS = text(_activity_windows_sql())


async def accounts_after(session: AsyncSession, after: str | None, limit: int) -> Sequence[Account]:
    """The next ``limit`` accounts in ``external_id`` order, after ``after`` (from the first
    when None): the pages of a walk over all accounts."""
    query = select(Account).order_by(Account.external_id).limit(limit)
    if after is not None:
        query = query.where(Account.external_id > after)
    return (await session.scalars(query)).all()


async def _by_account(
    session: AsyncSession, statement: Any, account_ids: Sequence[str], as_of: date
) -> dict[str, dict[str, Any]]:
    if not account_ids:
        return {}
    rows = await session.execute(statement, {"account_ids": list(account_ids), "as_of": as_of})
    return {row["account_id"]: dict(row) for row in rows.mappings()}


async def rollup_windows(
    session: AsyncSession, account_ids: Sequence[str], as_of: date
) -> dict[str, dict[str, Any]]:
    """Rollup counters over the windows, per account, over ingest.daily_rollups up to
    ``as_of``:

    - ``<counter>_<n>`` (n = 7, 30, 60): the counter summed over the n-day window;
    - ``integrations_total``: integrations summed over every day up to ``as_of``;
    - ``<kind>_first`` / ``<kind>_last`` (events, logins, key_actions, integrations): the
      first and last day up to ``as_of`` whose counter is > 0 (None when never);
    - ``key_action_days``: bit i (i = 0..59) set when day ``as_of - i`` had key_actions > 0;
    - ``paid_months``: distinct calendar months up to ``as_of`` with a day of
      invoices_paid > 0.
    """
    return await _by_account(session, _ROLLUP_WINDOWS, account_ids, as_of)


async def activity_windows(
    session: AsyncSession, account_ids: Sequence[str], as_of: date
) -> dict[str, dict[str, Any]]:
    """Distinct users and features over windows, and the champion's last day, per account
    (a column is None where the account has no row of its kind). Distinct counts are taken
    over the window, never added up from days: 20 users active on every day of 30 are 20.

    - ``active_users_7`` / ``active_users_30``: distinct users of ingest.daily_active_users
      on a day of the 7- / 30-day window (a user's ``ago`` is its latest day's distance from
      ``as_of``; it is in the n-day window when ``ago < n``);
    - ``week_k`` (k = 0..7): distinct users active on one of days ``as_of - 7k - 6`` ..
      ``as_of - 7k`` (bit k of a user's ``weeks`` is set when one of its days has
      ``(as_of - day) / 7 = k``);
    - ``core_features_7`` / ``core_features_30``: distinct features of ingest.daily_features
      over the 7- / 30-day window;
    - ``champion_last_active``: the last day up to ``as_of`` the account's
      ``champion_user_id`` is in ingest.daily_active_users (no row: no champion, or never
      active); found by walking the account's days backwards on the primary key.
    """
    return await _by_account(session, _ACTIVITY_WINDOWS, account_ids, as_of)
