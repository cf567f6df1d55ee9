"""Account history's SQL: recording fact changes, the locks writers take, reading it back."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.domain.history import TRACKED_FIELDS
from services.ingest.models import Account, AccountHistory
from shared.arrays import text_array
from shared.db import driver_connection

# Writers of account facts through the CRM hold these (transaction-scoped advisory locks,
# keyed by this class and one of 1,024 buckets of the account id's hash), taken in key order,
# so two upserts of one account (even one that does not exist yet) compare against each
# other's facts instead of both against what was there before.
_LOCK_CLASS = 0x68697374  # "hist"
_LOCK_BUCKETS = 1024
_LOCK = """
    SELECT count(pg_advisory_xact_lock($1, k))
    FROM (SELECT DISTINCT hashtext(a) & $3 AS k FROM unnest($2::text[]) AS a ORDER BY 1) AS keys
"""


async def lock_accounts(session: AsyncSession, account_ids: Iterable[str]) -> None:
    """Take the history locks of these accounts until the transaction ends."""
    ids = sorted(set(account_ids))
    if ids:
        conn = await driver_connection(session)
        await conn.fetchval(_LOCK, _LOCK_CLASS, ids, _LOCK_BUCKETS - 1)


async def accounts_for_update(
    session: AsyncSession, account_ids: Sequence[str]
) -> dict[str, Account]:
    """The existing accounts among these ids, locked (in id order) and read afresh."""
    rows = await session.scalars(
        select(Account)
        .where(Account.external_id == func.any(text_array(sorted(set(account_ids)))))
        .order_by(Account.external_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {a.external_id: a for a in rows}


async def database_now(session: AsyncSession) -> datetime:
    """The database's clock now (not the transaction's start): one clock for every process."""
    now = await session.scalar(select(func.clock_timestamp()))
    assert isinstance(now, datetime)
    return now


async def history_since(
    session: AsyncSession, since: Mapping[str, datetime]
) -> dict[str, list[AccountHistory]]:
    """Per account, in history order, the rows from the one in force at ``since[account]``
    on (every row when none is): what a change effective then is compared against, and
    everything after it."""
    if not since:
        return {}
    ids = list(since)
    rows = await session.scalars(
        select(AccountHistory)
        .from_statement(
            text(
                """
                SELECT h.* FROM unnest(CAST(:ids AS text[]), CAST(:since AS timestamptz[]))
                    AS w(account_id, since)
                JOIN ingest.account_history h ON h.account_id = w.account_id
                WHERE h.effective_at >= coalesce(
                    (SELECT max(p.effective_at) FROM ingest.account_history p
                     WHERE p.account_id = w.account_id AND p.effective_at <= w.since),
                    '-infinity')
                ORDER BY h.account_id, h.effective_at, h.id
                """
            ).bindparams(ids=ids, since=[since[i] for i in ids])
        )
        .execution_options(populate_existing=True)
    )
    found: dict[str, list[AccountHistory]] = {i: [] for i in ids}
    for row in rows:
        found[row.account_id].append(row)
    return found


async def insert_rows(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Record fact changes (each a mapping of the history columns)."""
    if rows:
        await session.execute(insert(AccountHistory), list(rows))


async def follow_billing(
    session: AsyncSession, account_id: str, after: datetime, fields: Mapping[str, Any]
) -> None:
    """Give the rows effective after ``after`` these billing-owned facts: a billing change
    applied late (it occurred before them) is what they hold from then on, as the account does."""
    values = {k: v for k, v in fields.items() if k in TRACKED_FIELDS}
    if values:
        await session.execute(
            update(AccountHistory)
            .where(AccountHistory.account_id == account_id, AccountHistory.effective_at > after)
            .values(**values)
        )


async def history_page(
    session: AsyncSession, account_id: str, after: tuple[datetime, int] | None, limit: int
) -> Sequence[AccountHistory]:
    """An account's rows in history order, after a position."""
    query = (
        select(AccountHistory)
        .where(AccountHistory.account_id == account_id)
        .order_by(AccountHistory.effective_at, AccountHistory.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(
            func.row(AccountHistory.effective_at, AccountHistory.id) > func.row(after[0], after[1])
        )
    return (await session.scalars(query)).all()


async def histories(session: AsyncSession, account_ids: Sequence[str]) -> dict[str, list[Row[Any]]]:
    """The whole history of each of these accounts, in history order, in one query: each
    row's ``effective_at`` and tracked facts (``TRACKED_FIELDS``) only, what outcomes are
    worked out from (an outcomes page reads thousands of rows)."""
    found: dict[str, list[Row[Any]]] = {i: [] for i in account_ids}
    if not account_ids:
        return found
    facts = [getattr(AccountHistory, name) for name in TRACKED_FIELDS]
    rows = await session.execute(
        select(AccountHistory.account_id, AccountHistory.effective_at, *facts)
        .where(AccountHistory.account_id == func.any(text_array(list(account_ids))))
        .order_by(AccountHistory.account_id, AccountHistory.effective_at, AccountHistory.id)
    )
    for row in rows:
        found[row.account_id].append(row)
    return found


async def accounts_with_renewals(
    session: AsyncSession,
    *,
    account_ids: Sequence[str] | None,
    renewal_from: date | None,
    renewal_to: date | None,
    before: date,
    start: str | None,
    inclusive: bool,
    limit: int,
) -> list[str]:
    """Ids (in order) of accounts among ``account_ids`` (if given) whose history held a
    renewal date before ``before`` (and in the range, if given), from ``start`` on (itself
    included when ``inclusive``), at most ``limit``."""
    query = (
        select(AccountHistory.account_id)
        .distinct()
        .order_by(AccountHistory.account_id)
        .limit(limit)
    )
    if account_ids is not None:
        query = query.where(AccountHistory.account_id == func.any(text_array(list(account_ids))))
    if renewal_from is not None:
        query = query.where(AccountHistory.renewal_date >= renewal_from)
    if renewal_to is not None:
        query = query.where(AccountHistory.renewal_date <= renewal_to)
    query = query.where(AccountHistory.renewal_date < before)
    if start is not None:
        query = query.where(
            AccountHistory.account_id >= start if inclusive else AccountHistory.account_id > start
        )
    return list(await session.scalars(query))


async def facts_at(
    session: AsyncSession, account_ids: Sequence[str], instants: Sequence[datetime]
) -> list[tuple[str, int, int, str, str]]:
    """(account, index of the instant, MRR, currency, status) in force for each account at
    each instant: the newest row (by effective time, then id) effective at or before it. A
    pair with no such row is absent. One index probe per pair."""
    if not account_ids or not instants:
        return []
    rows = await session.execute(
        text(
            """
            SELECT a.account_id, t.i - 1, h.mrr_minor, h.currency, h.status
            FROM unnest(CAST(:ids AS text[])) AS a(account_id)
            CROSS JOIN unnest(CAST(:ats AS timestamptz[])) WITH ORDINALITY AS t(at, i)
            JOIN LATERAL (
                SELECT p.mrr_minor, p.currency, p.status FROM ingest.account_history p
                WHERE p.account_id = a.account_id AND p.effective_at <= t.at
                ORDER BY p.effective_at DESC, p.id DESC
                LIMIT 1
            ) AS h ON true
            """
        ).bindparams(ids=list(account_ids), ats=list(instants))
    )
    return [(r[0], int(r[1]), int(r[2]), r[3], r[4]) for r in rows]
