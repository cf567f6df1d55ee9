"""Daily rollups' SQL: the counting statement parts, locks, recount and reads."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.domain.rollups import EventMap
from services.ingest.models import DailyRollup
from shared.db import driver_connection

# Rollup counters driven by event names; each is also the EventMap field holding its names,
# and the name of the bind parameter that carries them.
EVENT_MAP_COUNTERS = ("logins", "key_actions", "integrations", "api_calls", "exports")
_EVENT_COLUMNS = ("events", *EVENT_MAP_COUNTERS, "active_users", "core_features")


def rollup_ctes(touched: str) -> str:
    """CTEs adding the events of CTE ``touched(account_id, user_id, name, day)`` to rollups.

    This is ``domain.rollups.aggregate`` done where the rows are (tests/db/
    test_rollup_counting.py checks the two agree on every counter): counters by the event
    map's name lists, distinct users and features recorded first so that only those new to
    the day add to its distinct counts. Rows are written in key order so concurrent batches
    lock them in one order. The statement binds ``event_map_params``.
    """
    counters = ", ".join(
        f"count(*) FILTER (WHERE name = ANY(CAST(:{c} AS text[]))) AS {c}"
        for c in EVENT_MAP_COUNTERS
    )
    columns = ", ".join(EVENT_MAP_COUNTERS)
    # Only fixed names from this module are interpolated; values are bound parameters.
    return f"""
    users_added AS (
        INSERT INTO ingest.daily_active_users (account_id, day, user_id)
        SELECT DISTINCT account_id, day, user_id FROM {touched} WHERE user_id IS NOT NULL
        ORDER BY 1, 2, 3
        ON CONFLICT DO NOTHING
        RETURNING account_id, day
    ),
    features_added AS (
        INSERT INTO ingest.daily_features (account_id, day, feature)
        SELECT DISTINCT t.account_id, t.day, m.feature
        FROM {touched} AS t
        JOIN unnest(CAST(:feature_names AS text[]), CAST(:features AS text[])) AS m(name, feature)
            ON m.name = t.name
        ORDER BY 1, 2, 3
        ON CONFLICT DO NOTHING
        RETURNING account_id, day
    ),
    day_counts AS (
        SELECT account_id, day, count(*) AS events, {counters}
        FROM {touched} GROUP BY account_id, day
    ),
    new_users AS (SELECT account_id, day, count(*) AS n FROM users_added GROUP BY 1, 2),
    new_features AS (SELECT account_id, day, count(*) AS n FROM features_added GROUP BY 1, 2),
    rolled AS (
        INSERT INTO ingest.daily_rollups AS r
            (account_id, day, events, {columns}, active_users, core_features)
        SELECT c.account_id, c.day, c.events, {", ".join("c." + x for x in EVENT_MAP_COUNTERS)},
               coalesce(u.n, 0), coalesce(f.n, 0)
        FROM day_counts AS c
        LEFT JOIN new_users AS u USING (account_id, day)
        LEFT JOIN new_features AS f USING (account_id, day)
        ORDER BY 1, 2
        ON CONFLICT (account_id, day) DO UPDATE SET
            events = r.events + EXCLUDED.events,
            {", ".join(f"{x} = r.{x} + EXCLUDED.{x}" for x in EVENT_MAP_COUNTERS)},
            active_users = r.active_users + EXCLUDED.active_users,
            core_features = r.core_features + EXCLUDED.core_features
        RETURNING 1
    )
    """  # noqa: S608


def event_map_params(event_map: EventMap) -> dict[str, list[str]]:
    """The bind parameters of ``rollup_ctes``: each counter's event names, and the core
    features as two parallel lists (``feature_names[i]`` uses ``features[i]``)."""
    features = sorted(event_map.core_features.items())
    return {
        **{c: sorted(getattr(event_map, c)) for c in EVENT_MAP_COUNTERS},
        "feature_names": [name for name, _ in features],
        "features": [feature for _, feature in features],
    }


_REBUILD = text(
    f"""
    WITH touched AS (
        SELECT account_id, user_id, name, (ts AT TIME ZONE 'UTC')::date AS day
        FROM ingest.events WHERE account_id = ANY(CAST(:account_ids AS text[]))
    ),
    {rollup_ctes("touched")}
    SELECT count(*) FROM touched
    """  # noqa: S608
)
_FORGET_USERS = text("DELETE FROM ingest.daily_active_users WHERE account_id = ANY(:account_ids)")
_FORGET_FEATURES = text("DELETE FROM ingest.daily_features WHERE account_id = ANY(:account_ids)")
_ZERO_EVENT_COUNTERS = text(
    f"UPDATE ingest.daily_rollups SET {', '.join(f'{c} = 0' for c in _EVENT_COLUMNS)}"  # noqa: S608
    " WHERE account_id = ANY(:account_ids)"
)

# Rollup locks per group of accounts (transaction-scoped advisory locks, keyed by this class
# and one of 256 buckets of the account id's hash): writers of event-derived rollups hold
# their accounts' buckets shared, a recount holds its accounts' buckets exclusively. Buckets
# bound the locks a wide batch takes (the server's lock table is finite); taken in key order,
# so two lockers never deadlock.
_ROLLUP_LOCK_CLASS = 0x726F6C6C  # "roll"
_ROLLUP_LOCK_BUCKETS = 256
_LOCK_ACCOUNTS = """
    SELECT count({function}($1, k))
    FROM (
        SELECT DISTINCT hashtext(a) & $3 AS k FROM unnest($2::text[]) AS a ORDER BY 1
    ) AS keys
"""


async def lock_account_rollups(
    session: AsyncSession, account_ids: Iterable[str], *, exclusive: bool
) -> None:
    """Take the rollup locks of these accounts until the transaction ends (see above).

    Run on the driver's connection, so a lock wait that times out is asyncpg's own
    ``LockNotAvailableError``, as callers have always seen it.
    """
    ids = sorted(set(account_ids))
    if ids:
        function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        conn = await driver_connection(session)
        await conn.fetchval(
            _LOCK_ACCOUNTS.format(function=function),
            _ROLLUP_LOCK_CLASS,
            ids,
            _ROLLUP_LOCK_BUCKETS - 1,
        )


async def rebuild_rollups(
    session: AsyncSession, account_ids: Sequence[str], event_map: EventMap
) -> int:
    """Recount the event-derived rollups of these accounts from their stored events.

    Support and billing counters are kept. Only the writers of these accounts (and of the
    others sharing their lock buckets) are held off until this commits, so a batch for them
    arriving meanwhile adds its events after the recount rather than being lost or counted
    twice; other accounts stay writable. Returns events counted.
    """
    ids = sorted(set(account_ids))
    await lock_account_rollups(session, ids, exclusive=True)
    for forget in (_FORGET_USERS, _FORGET_FEATURES, _ZERO_EVENT_COUNTERS):
        await session.execute(forget, {"account_ids": ids})
    counted = await session.scalar(_REBUILD, {**event_map_params(event_map), "account_ids": ids})
    return int(counted or 0)


SIGNAL_COUNTERS = frozenset(
    {"tickets_opened", "tickets_closed", "payment_failures", "invoices_paid"}
)


async def add_counters(session: AsyncSession, increments: Sequence[tuple[str, date, str]]) -> None:
    """Add one to a support or billing counter of an account's day, per (account, day, counter).

    Event-driven counters are maintained by the events statement (``rollup_ctes``).
    """
    for account_id, day, counter in sorted(increments):  # one lock order for all writers
        if counter not in SIGNAL_COUNTERS:
            raise ValueError(f"not a support or billing counter: {counter}")
        stmt = insert(DailyRollup).values(account_id=account_id, day=day, **{counter: 1})
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[DailyRollup.account_id, DailyRollup.day],
                set_={counter: getattr(DailyRollup, counter) + 1},
            )
        )


async def rollups_for(
    session: AsyncSession, account_ids: Sequence[str], first_day: date, last_day: date
) -> Sequence[DailyRollup]:
    """Rollups of the given accounts between two days inclusive."""
    query = (
        select(DailyRollup)
        .where(
            DailyRollup.account_id.in_(list(account_ids)),
            DailyRollup.day >= first_day,
            DailyRollup.day <= last_day,
        )
        .order_by(DailyRollup.account_id, DailyRollup.day)
    )
    return (await session.scalars(query)).all()
