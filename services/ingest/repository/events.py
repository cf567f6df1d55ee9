"""Events' SQL: storing a batch (and rolling it up), attribution, the event log."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import orjson
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.domain.events import Event
from services.ingest.domain.rollups import EventMap
from services.ingest.models import StoredEvent
from services.ingest.repository.rollups import event_map_params, lock_account_rollups, rollup_ctes
from shared.db import driver_connection

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


# The staged rows are taken (deleted) by the statement that stores them, so a transaction
# storing several batches (a bulk replay) sends each batch's rows once.
_INSERT_STAGED = text(
    f"""
    WITH staged AS (DELETE FROM staged_events RETURNING {", ".join(_STAGED_COLUMNS)}),
    new AS (
        INSERT INTO ingest.events AS e
            ({", ".join(_STAGED_COLUMNS)})
        SELECT {", ".join(_STAGED_COLUMNS)} FROM staged ORDER BY id
        ON CONFLICT (id) DO NOTHING
        RETURNING e.id, e.account_id, e.user_id, e.name, (e.ts AT TIME ZONE 'UTC')::date AS day
    ),
    touched AS (SELECT account_id, user_id, name, day FROM new WHERE account_id IS NOT NULL),
    {rollup_ctes("touched")}
    SELECT id, account_id FROM new
    """  # noqa: S608
)

_ATTRIBUTE = text(
    f"""
    WITH linked AS (
        UPDATE ingest.events AS e SET account_id = l.account_id
        FROM unnest(CAST(:user_ids AS text[]), CAST(:account_ids AS text[]))
            AS l(user_id, account_id)
        WHERE e.user_id = l.user_id AND e.account_id IS NULL
        RETURNING e.account_id, e.user_id, e.name, (e.ts AT TIME ZONE 'UTC')::date AS day
    ),
    {rollup_ctes("linked")}
    SELECT DISTINCT account_id FROM linked
    """  # noqa: S608
)


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
    rows = await session.execute(_INSERT_STAGED, event_map_params(event_map))
    return [(row[0], row[1]) for row in rows.all()]


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
    rows = await session.execute(
        _ATTRIBUTE,
        {
            **event_map_params(event_map),
            "user_ids": users,
            "account_ids": [links[u] for u in users],
        },
    )
    return {row[0] for row in rows.all()}


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
