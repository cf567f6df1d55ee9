"""Ingest's SQL. Functions compose and run queries on the caller's session; none commits."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import Text, bindparam, case, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.domain.billing import BILLING_OWNED_FIELDS
from services.ingest.domain.events import Event
from services.ingest.domain.rollups import EventMap
from services.ingest.domain.support import TicketState
from services.ingest.models import (
    Account,
    DailyRollup,
    EventMapVersion,
    RejectedEvent,
    Source,
    StoredEvent,
    SurveyResponse,
    Ticket,
    User,
    UserAlias,
    WebhookEvent,
)
from shared.db import driver_connection

ACCOUNT_FIELDS = (
    "name",
    "industry",
    "region",
    "motion_segment",
    "plan",
    "billing_period",
    "mrr_minor",
    "currency",
    "seats_purchased",
    "contract_start",
    "renewal_date",
    "status",
    "champion_user_id",
    "stripe_customer_id",
    "cancel_intent",
)
USER_FIELDS = ("account_id", "email", "name", "role", "traits")


def _text_array(values: list[str]) -> Any:
    """A list bound as one text[] parameter (``= ANY``), not one parameter per element."""
    return bindparam(None, values, type_=ARRAY(Text))


# --- accounts and users -------------------------------------------------------------------


async def upsert_accounts(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> list[bool]:
    """Insert or update accounts by external id; returns, per row, whether it was created.

    Fields in ``BILLING_OWNED_FIELDS`` keep their stored value on accounts the billing system
    has reported for (``billing_updated_at`` set).
    """
    stmt = insert(Account).values(list(rows))
    columns = Account.__table__.c

    def taken(name: str) -> Any:
        if name not in BILLING_OWNED_FIELDS:
            return stmt.excluded[name]
        return case(
            (columns.billing_updated_at.is_(None), stmt.excluded[name]), else_=columns[name]
        )

    upsert = stmt.on_conflict_do_update(
        index_elements=[Account.external_id],
        set_={**{f: taken(f) for f in ACCOUNT_FIELDS}, "updated_at": func.now()},
    ).returning(text("(xmax = 0) AS created"))
    return list((await session.execute(upsert)).scalars())


async def get_account(session: AsyncSession, external_id: str) -> Account | None:
    """One account, or None."""
    return await session.get(Account, external_id)


async def list_accounts(
    session: AsyncSession,
    *,
    status: str | None,
    motion_segment: str | None,
    updated_since: datetime | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> Sequence[Account]:
    """Accounts in (updated_at, external_id) order, filtered."""
    query = select(Account).order_by(Account.updated_at, Account.external_id).limit(limit)
    if status is not None:
        query = query.where(Account.status == status)
    if motion_segment is not None:
        query = query.where(Account.motion_segment == motion_segment)
    if updated_since is not None:
        query = query.where(Account.updated_at >= updated_since)
    if after is not None:
        query = query.where(
            func.row(Account.updated_at, Account.external_id) > func.row(after[0], after[1])
        )
    return (await session.scalars(query)).all()


async def existing_account_ids(session: AsyncSession, ids: Iterable[str]) -> set[str]:
    """Which of ``ids`` name known accounts."""
    wanted = list(set(ids))
    if not wanted:
        return set()
    rows = await session.scalars(
        select(Account.external_id).where(Account.external_id == func.any(_text_array(wanted)))
    )
    return set(rows)


async def upsert_users(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> list[bool]:
    """Insert or update users by external id; returns, per row, whether it was created."""
    stmt = insert(User).values(list(rows))
    upsert = stmt.on_conflict_do_update(
        index_elements=[User.external_id],
        set_={**{f: stmt.excluded[f] for f in USER_FIELDS}, "updated_at": func.now()},
    ).returning(text("(xmax = 0) AS created"))
    return list((await session.execute(upsert)).scalars())


async def merge_user_traits(
    session: AsyncSession, user_id: str, traits: dict[str, Any], account_id: str | None
) -> None:
    """Create a user from an identify/group call, or merge new traits into it."""
    stmt = insert(User).values(external_id=user_id, traits=traits, account_id=account_id)
    stmt = stmt.on_conflict_do_update(
        index_elements=[User.external_id],
        set_={
            "traits": User.traits.op("||")(stmt.excluded.traits),
            "account_id": func.coalesce(stmt.excluded.account_id, User.account_id),
            "updated_at": func.now(),
        },
    )
    await session.execute(stmt)


async def aliases_of(session: AsyncSession, ids: Iterable[str]) -> dict[str, str]:
    """The user each of these ids was aliased to (Segment ``alias``), for those that were."""
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = await session.execute(
        select(UserAlias.previous_id, UserAlias.user_id).where(
            UserAlias.previous_id == func.any(_text_array(wanted))
        )
    )
    return {previous: user for previous, user in rows.all()}


async def record_aliases(session: AsyncSession, aliases: dict[str, str]) -> None:
    """Keep alias calls (previous id -> user); a later alias of the same id wins."""
    stmt = insert(UserAlias).values(
        [{"previous_id": p, "user_id": u} for p, u in sorted(aliases.items())]
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[UserAlias.previous_id], set_={"user_id": stmt.excluded.user_id}
        )
    )


async def adopt_unattributed(session: AsyncSession, aliases: dict[str, str]) -> None:
    """Events not yet attributed that were sent under an aliased id become the user's.

    Only unattributed events change: they are in no rollup yet.
    """
    for previous, user in sorted(aliases.items()):
        unattributed = StoredEvent.account_id.is_(None)
        await session.execute(
            update(StoredEvent)
            .where(unattributed, StoredEvent.user_id == previous)
            .values(user_id=user)
        )
        await session.execute(
            update(StoredEvent)
            .where(
                unattributed, StoredEvent.user_id.is_(None), StoredEvent.anonymous_id == previous
            )
            .values(user_id=user)
        )


async def get_user(session: AsyncSession, external_id: str) -> User | None:
    """One user, or None."""
    return await session.get(User, external_id)


async def list_users(
    session: AsyncSession,
    *,
    account_id: str | None,
    updated_since: datetime | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> Sequence[User]:
    """Users in (updated_at, external_id) order, filtered."""
    query = select(User).order_by(User.updated_at, User.external_id).limit(limit)
    if account_id is not None:
        query = query.where(User.account_id == account_id)
    if updated_since is not None:
        query = query.where(User.updated_at >= updated_since)
    if after is not None:
        query = query.where(func.row(User.updated_at, User.external_id) > func.row(*after))
    return (await session.scalars(query)).all()


async def user_accounts(session: AsyncSession, user_ids: Iterable[str]) -> dict[str, str]:
    """The account each of ``user_ids`` belongs to, for those linked to one."""
    wanted = list(set(user_ids))
    if not wanted:
        return {}
    rows = await session.execute(
        select(User.external_id, User.account_id).where(
            User.external_id == func.any(_text_array(wanted)), User.account_id.is_not(None)
        )
    )
    return {user: account for user, account in rows.all() if account is not None}


# --- events -------------------------------------------------------------------------------

_STAGED_COLUMNS = (
    "id",
    "source_id",
    "type",
    "name",
    "ts",
    "account_id",
    "user_id",
    "anonymous_id",
    "properties",
    "sent_ts",
)
_CREATE_STAGING = """
    CREATE TEMP TABLE IF NOT EXISTS staged_events (
        id text, source_id uuid, type text, name text, ts timestamptz, account_id text,
        user_id text, anonymous_id text, properties jsonb, sent_ts timestamptz
    ) ON COMMIT DELETE ROWS
"""


def _rollup_ctes(touched: str) -> str:
    """CTEs adding the events of CTE ``touched(account_id, user_id, name, day)`` to rollups.

    This is ``domain.rollups.aggregate`` done where the rows are (a DB test checks the two
    agree): counters by the event map's name lists ($1-$7), distinct users and features
    recorded first so that only those new to the day add to its distinct counts. Rows are
    written in key order so concurrent batches lock them in one order.
    """
    counters = ", ".join(
        f"count(*) FILTER (WHERE name = ANY(${i}::text[])) AS {c}"
        for i, c in enumerate(_EVENT_MAP_COUNTERS, start=1)
    )
    columns = ", ".join(_EVENT_MAP_COUNTERS)
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
        JOIN unnest($6::text[], $7::text[]) AS m(name, feature) ON m.name = t.name
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
        SELECT c.account_id, c.day, c.events, {", ".join("c." + x for x in _EVENT_MAP_COUNTERS)},
               coalesce(u.n, 0), coalesce(f.n, 0)
        FROM day_counts AS c
        LEFT JOIN new_users AS u USING (account_id, day)
        LEFT JOIN new_features AS f USING (account_id, day)
        ORDER BY 1, 2
        ON CONFLICT (account_id, day) DO UPDATE SET
            events = r.events + EXCLUDED.events,
            {", ".join(f"{x} = r.{x} + EXCLUDED.{x}" for x in _EVENT_MAP_COUNTERS)},
            active_users = r.active_users + EXCLUDED.active_users,
            core_features = r.core_features + EXCLUDED.core_features
        RETURNING 1
    )
    """  # noqa: S608


# Rollup counters driven by event names, in the order of their name-list parameters.
_EVENT_MAP_COUNTERS = ("logins", "key_actions", "integrations", "api_calls", "exports")


def _event_map_args(event_map: EventMap) -> list[list[str]]:
    features = sorted(event_map.core_features.items())
    return [
        sorted(event_map.logins),
        sorted(event_map.key_actions),
        sorted(event_map.integrations),
        sorted(event_map.api_calls),
        sorted(event_map.exports),
        [name for name, _ in features],
        [feature for _, feature in features],
    ]


_INSERT_STAGED = f"""
    WITH new AS (
        INSERT INTO ingest.events AS e
            ({", ".join(_STAGED_COLUMNS)})
        SELECT {", ".join(_STAGED_COLUMNS)} FROM staged_events ORDER BY id
        ON CONFLICT (id) DO NOTHING
        RETURNING e.id, e.account_id, e.user_id, e.name, (e.ts AT TIME ZONE 'UTC')::date AS day
    ),
    touched AS (SELECT account_id, user_id, name, day FROM new WHERE account_id IS NOT NULL),
    {_rollup_ctes("touched")}
    SELECT id, account_id FROM new
"""  # noqa: S608

_ATTRIBUTE = f"""
    WITH linked AS (
        UPDATE ingest.events AS e SET account_id = l.account_id
        FROM unnest($8::text[], $9::text[]) AS l(user_id, account_id)
        WHERE e.user_id = l.user_id AND e.account_id IS NULL
        RETURNING e.account_id, e.user_id, e.name, (e.ts AT TIME ZONE 'UTC')::date AS day
    ),
    {_rollup_ctes("linked")}
    SELECT DISTINCT account_id FROM linked
"""  # noqa: S608


_REBUILD = f"""
    WITH touched AS (
        SELECT account_id, user_id, name, (ts AT TIME ZONE 'UTC')::date AS day
        FROM ingest.events WHERE account_id = ANY($8::text[])
    ),
    {_rollup_ctes("touched")}
    SELECT count(*) FROM touched
"""  # noqa: S608
_EVENT_COLUMNS = ("events", *_EVENT_MAP_COUNTERS, "active_users", "core_features")


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
    """Take the rollup locks of these accounts until the transaction ends (see above)."""
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
    conn = await driver_connection(session)
    await conn.execute("DELETE FROM ingest.daily_active_users WHERE account_id = ANY($1)", ids)
    await conn.execute("DELETE FROM ingest.daily_features WHERE account_id = ANY($1)", ids)
    zeroed = ", ".join(f"{c} = 0" for c in _EVENT_COLUMNS)
    await conn.execute(
        f"UPDATE ingest.daily_rollups SET {zeroed} WHERE account_id = ANY($1)",  # noqa: S608
        ids,
    )
    counted: int = await conn.fetchval(_REBUILD, *_event_map_args(event_map), ids)
    return counted


async def account_ids_after(session: AsyncSession, after: str | None, limit: int) -> list[str]:
    """The next ``limit`` account ids in id order."""
    query = select(Account.external_id).order_by(Account.external_id).limit(limit)
    if after is not None:
        query = query.where(Account.external_id > after)
    return list(await session.scalars(query))


async def insert_events(
    session: AsyncSession,
    events: Sequence[Event],
    source_id: uuid.UUID | None,
    event_map: EventMap,
) -> list[tuple[str, str | None]]:
    """Store events not stored before (by id) and add them to the daily rollups.

    The batch is staged with COPY, then one statement inserts the new events (in id order,
    so concurrent batches sharing ids lock them in one order) and updates the rollups.
    Returns (id, account id) of each event that was new.
    """
    if not events:
        return []
    await lock_account_rollups(
        session, {e.account_id for e in events if e.account_id is not None}, exclusive=False
    )
    conn = await driver_connection(session)
    await conn.execute(_CREATE_STAGING)
    await conn.copy_records_to_table(
        "staged_events",
        records=[
            (
                e.id,
                source_id,
                e.type,
                e.name,
                e.timestamp,
                e.account_id,
                e.user_id,
                e.anonymous_id,
                orjson.dumps(e.properties).decode(),
                e.sent_timestamp,
            )
            for e in events
        ],
        columns=_STAGED_COLUMNS,
    )
    rows = await conn.fetch(_INSERT_STAGED, *_event_map_args(event_map))
    return [(row[0], row[1]) for row in rows]


async def attribute_pending(
    session: AsyncSession, links: dict[str, str], event_map: EventMap
) -> set[str]:
    """Give unattributed events of newly linked users their account and roll them up.

    Returns the accounts that received events.
    """
    if not links:
        return set()
    users = sorted(links)
    await lock_account_rollups(session, links.values(), exclusive=False)
    conn = await driver_connection(session)
    rows = await conn.fetch(
        _ATTRIBUTE, *_event_map_args(event_map), users, [links[u] for u in users]
    )
    return {row[0] for row in rows}


async def list_events(
    session: AsyncSession,
    *,
    account_id: str | None,
    user_id: str | None,
    name: str | None,
    since: datetime | None,
    until: datetime | None,
    before: tuple[datetime, str] | None,
    limit: int,
) -> Sequence[StoredEvent]:
    """Stored events, newest first by (ts, id), filtered; ``before`` continues a page."""
    query = select(StoredEvent).order_by(StoredEvent.ts.desc(), StoredEvent.id.desc()).limit(limit)
    if account_id is not None:
        query = query.where(StoredEvent.account_id == account_id)
    if user_id is not None:
        query = query.where(StoredEvent.user_id == user_id)
    if name is not None:
        query = query.where(StoredEvent.name == name)
    if since is not None:
        query = query.where(StoredEvent.ts >= since)
    if until is not None:
        query = query.where(StoredEvent.ts < until)
    if before is not None:
        query = query.where(func.row(StoredEvent.ts, StoredEvent.id) < func.row(*before))
    return (await session.scalars(query)).all()


async def insert_rejections(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Keep refused events with their reason and raw body."""
    if rows:
        await session.execute(insert(RejectedEvent).values(list(rows)))


async def list_rejections(
    session: AsyncSession,
    *,
    source: str | None,
    reason_contains: str | None,
    resolved: bool | None = None,
    after_id: int | None = None,
    limit: int,
    for_replay: bool = False,
) -> Sequence[RejectedEvent]:
    """Kept rejected events, oldest first.

    ``for_replay`` locks the rows, skipping those another replay holds, so two replays
    never run the same event.
    """
    query = select(RejectedEvent).order_by(RejectedEvent.id).limit(limit)
    if resolved is not None:
        query = query.where(
            RejectedEvent.resolved_at.is_not(None)
            if resolved
            else RejectedEvent.resolved_at.is_(None)
        )
    if for_replay:
        query = query.with_for_update(skip_locked=True)
    if source is not None:
        query = query.where(RejectedEvent.source == source)
    if reason_contains is not None:
        query = query.where(RejectedEvent.reason.contains(reason_contains))
    if after_id is not None:
        query = query.where(RejectedEvent.id > after_id)
    return (await session.scalars(query)).all()


async def rejection_for_replay(session: AsyncSession, rejected_id: int) -> RejectedEvent | None:
    """One kept rejected event, locked for replay."""
    return await session.scalar(
        select(RejectedEvent).where(RejectedEvent.id == rejected_id).with_for_update()
    )


# --- rollups ------------------------------------------------------------------------------


SIGNAL_COUNTERS = frozenset(
    {"tickets_opened", "tickets_closed", "payment_failures", "invoices_paid"}
)


async def add_counters(session: AsyncSession, increments: Sequence[tuple[str, date, str]]) -> None:
    """Add one to a support or billing counter of an account's day, per (account, day, counter).

    Event-driven counters are maintained by the events statement (``_rollup_ctes``).
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


async def accounts_by_id(session: AsyncSession, account_ids: Sequence[str]) -> dict[str, Account]:
    """Accounts keyed by external id."""
    rows = await session.scalars(select(Account).where(Account.external_id.in_(list(account_ids))))
    return {a.external_id: a for a in rows}


# --- event map ----------------------------------------------------------------------------


async def latest_event_map(session: AsyncSession) -> EventMapVersion | None:
    """The event map in force, or None when none was ever set."""
    return await session.scalar(
        select(EventMapVersion).order_by(EventMapVersion.version.desc()).limit(1)
    )


async def add_event_map(
    session: AsyncSession, document: dict[str, Any], created_by: str
) -> EventMapVersion:
    """Store a new version of the event map."""
    row = EventMapVersion(document=document, created_by=created_by)
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return row


# --- sources ------------------------------------------------------------------------------


async def add_source(session: AsyncSession, source: Source) -> Source:
    """Store a new source."""
    session.add(source)
    await session.flush()
    await session.refresh(source)
    return source


async def get_source(session: AsyncSession, source_id: uuid.UUID) -> Source | None:
    """One source, or None."""
    return await session.get(Source, source_id)


async def source_by_write_key(session: AsyncSession, write_key_hash: str) -> Source | None:
    """The source a write key belongs to."""
    return await session.scalar(select(Source).where(Source.write_key_hash == write_key_hash))


async def list_sources(
    session: AsyncSession, *, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> Sequence[Source]:
    """Sources, oldest first."""
    query = select(Source).order_by(Source.created_at, Source.id).limit(limit)
    if after is not None:
        query = query.where(func.row(Source.created_at, Source.id) > func.row(*after))
    return (await session.scalars(query)).all()


async def disable_source(session: AsyncSession, source_id: uuid.UUID) -> Source | None:
    """Stop a source's key or secret from being accepted."""
    return await session.scalar(
        update(Source)
        .where(Source.id == source_id)
        .values(disabled_at=func.coalesce(Source.disabled_at, func.now()))
        .returning(Source)
    )


# --- support and sentiment ----------------------------------------------------------------


async def ticket_for_update(session: AsyncSession, ticket_id: str) -> Ticket | None:
    """A ticket, locked until the transaction ends (updates to one ticket go one at a time)."""
    return await session.scalar(
        select(Ticket).where(Ticket.ticket_id == ticket_id).with_for_update()
    )


def _ticket_values(state: TicketState) -> dict[str, Any]:
    return {
        "severity": state.severity,
        "status": state.status,
        "opened_at": state.opened_at,
        "closed_at": state.closed_at,
        "updated_at": state.updated_at,
    }


async def insert_ticket(
    session: AsyncSession, ticket_id: str, account_id: str, state: TicketState
) -> bool:
    """Store a new ticket; False when another transaction stored it first."""
    result = await session.execute(
        insert(Ticket)
        .values(ticket_id=ticket_id, account_id=account_id, **_ticket_values(state))
        .on_conflict_do_nothing()
        .returning(Ticket.ticket_id)
    )
    return result.scalar_one_or_none() is not None


async def update_ticket(session: AsyncSession, ticket_id: str, state: TicketState) -> None:
    """Write a ticket's new state."""
    await session.execute(
        update(Ticket).where(Ticket.ticket_id == ticket_id).values(**_ticket_values(state))
    )


async def insert_survey(session: AsyncSession, row: dict[str, Any]) -> bool:
    """Store a survey response once per id; False when that id was already stored."""
    result = await session.execute(
        insert(SurveyResponse).values(**row).on_conflict_do_nothing().returning(SurveyResponse.id)
    )
    return result.scalar_one_or_none() is not None


async def open_tickets(
    session: AsyncSession, account_ids: Sequence[str]
) -> dict[str, dict[str, int]]:
    """Open tickets per account, by severity."""
    rows = await session.execute(
        select(Ticket.account_id, Ticket.severity, func.count())
        .where(Ticket.account_id.in_(list(account_ids)), Ticket.status == "open")
        .group_by(Ticket.account_id, Ticket.severity)
    )
    out: dict[str, dict[str, int]] = {}
    for account_id, severity, count in rows.all():
        out.setdefault(account_id, {})[severity] = count
    return out


async def latest_surveys(
    session: AsyncSession, account_ids: Sequence[str]
) -> dict[tuple[str, str], SurveyResponse]:
    """The newest NPS and CSAT response of each account."""
    rows = await session.scalars(
        select(SurveyResponse)
        .where(SurveyResponse.account_id.in_(list(account_ids)))
        .distinct(SurveyResponse.account_id, SurveyResponse.kind)
        .order_by(
            SurveyResponse.account_id, SurveyResponse.kind, SurveyResponse.responded_at.desc()
        )
    )
    return {(r.account_id, r.kind): r for r in rows}


# --- webhooks and billing -----------------------------------------------------------------


async def insert_webhook_event(session: AsyncSession, row: dict[str, Any]) -> bool:
    """Store a verified webhook once per source and event id; False for a repeat."""
    result = await session.execute(
        insert(WebhookEvent).values(**row).on_conflict_do_nothing().returning(WebhookEvent.event_id)
    )
    return result.scalar_one_or_none() is not None


async def mark_webhook(
    session: AsyncSession, source_id: uuid.UUID, event_id: str, *, applied: bool
) -> None:
    """Record that a webhook event took effect, or that it could not (rejected)."""
    state = {"applied_at": func.now()} if applied else {"rejected_at": func.now()}
    await session.execute(
        update(WebhookEvent)
        .where(WebhookEvent.source_id == source_id, WebhookEvent.event_id == event_id)
        .values(state)
    )


async def webhook_event_for_replay(
    session: AsyncSession, source_id: uuid.UUID, event_id: str
) -> WebhookEvent | None:
    """A stored webhook event, locked, pending again if it had been rejected (for a replay)."""
    return await session.scalar(
        update(WebhookEvent)
        .where(WebhookEvent.source_id == source_id, WebhookEvent.event_id == event_id)
        .values(rejected_at=None)
        .returning(WebhookEvent)
    )


async def pending_webhook_events(
    session: AsyncSession, provider: str, customer_refs: Sequence[str]
) -> Sequence[WebhookEvent]:
    """Webhook events waiting for these customers or accounts, oldest first, locked."""
    if not customer_refs:
        return []
    return (
        await session.scalars(
            select(WebhookEvent)
            .where(
                WebhookEvent.applied_at.is_(None),
                WebhookEvent.rejected_at.is_(None),
                WebhookEvent.provider == provider,
                WebhookEvent.customer_ref.in_(list(customer_refs)),
            )
            .order_by(WebhookEvent.occurred_at, WebhookEvent.source_id, WebhookEvent.event_id)
            .with_for_update()
        )
    ).all()


async def account_by_stripe_customer(session: AsyncSession, customer: str) -> Account | None:
    """The account mapped to a Stripe customer, locked for the billing update."""
    return await session.scalar(
        select(Account).where(Account.stripe_customer_id == customer).with_for_update()
    )


async def account_for_update(session: AsyncSession, external_id: str) -> Account | None:
    """An account, locked until the transaction ends."""
    return await session.scalar(
        select(Account).where(Account.external_id == external_id).with_for_update()
    )


async def stripe_customers_of(session: AsyncSession, account_ids: Sequence[str]) -> list[str]:
    """The Stripe customer ids mapped to these accounts."""
    rows = await session.scalars(
        select(Account.stripe_customer_id).where(
            Account.external_id.in_(list(account_ids)), Account.stripe_customer_id.is_not(None)
        )
    )
    return [r for r in rows if r is not None]
