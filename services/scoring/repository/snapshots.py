"""Snapshots and their daily history: the batch writes, and the reads of lists and pages.

The batch statements go through the driver (``unnest`` of parallel arrays, documents as JSON
text), as a full recompute writes 100,000 snapshots and history rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.domain.search import LIKE_ESCAPE, contains_pattern
from services.scoring.models import ScoreHistory
from services.scoring.models import Snapshot as SnapshotRow
from shared.contracts import Snapshot
from shared.db import driver_connection

_UPSERT_SNAPSHOTS = """
    INSERT INTO scoring.snapshots AS s (
        account_id, as_of, computed_at, scorecard_version, motion_segment, status,
        health_score, computed_colour, colour, override_expires_at, segment, tier,
        renewal_window, mrr_minor, currency, recency_days, frequency, document
    )
    SELECT a, o, c, v, ms, st, h, cc, co, oe, sg, t, rw, m, cu, rd, f, d::jsonb
    FROM unnest(
        $1::text[], $2::date[], $3::timestamptz[], $4::int[], $5::text[], $6::text[],
        $7::float8[], $8::text[], $9::text[], $10::timestamptz[], $11::text[], $12::text[],
        $13::smallint[], $14::bigint[], $15::text[], $16::int[], $17::int[], $18::text[]
    ) AS u(a, o, c, v, ms, st, h, cc, co, oe, sg, t, rw, m, cu, rd, f, d)
    ORDER BY a
    ON CONFLICT (account_id) DO UPDATE SET
        as_of = EXCLUDED.as_of, computed_at = EXCLUDED.computed_at,
        scorecard_version = EXCLUDED.scorecard_version,
        motion_segment = EXCLUDED.motion_segment, status = EXCLUDED.status,
        health_score = EXCLUDED.health_score, computed_colour = EXCLUDED.computed_colour,
        colour = EXCLUDED.colour, override_expires_at = EXCLUDED.override_expires_at,
        segment = EXCLUDED.segment, tier = EXCLUDED.tier,
        renewal_window = EXCLUDED.renewal_window, mrr_minor = EXCLUDED.mrr_minor,
        currency = EXCLUDED.currency, recency_days = EXCLUDED.recency_days,
        frequency = EXCLUDED.frequency, document = EXCLUDED.document
    -- A batch that read older signals than the stored snapshot's does not overwrite it.
    WHERE s.computed_at <= EXCLUDED.computed_at
"""

_UPSERT_HISTORY = """
    INSERT INTO scoring.score_history AS h
        (account_id, day, health_score, colour, segment, tier, scorecard_version)
    SELECT * FROM unnest(
        $1::text[], $2::date[], $3::float8[], $4::text[], $5::text[], $6::text[], $7::int[]
    ) ORDER BY 1
    ON CONFLICT (account_id, day) DO UPDATE SET
        health_score = EXCLUDED.health_score, colour = EXCLUDED.colour,
        segment = EXCLUDED.segment, tier = EXCLUDED.tier,
        scorecard_version = EXCLUDED.scorecard_version
"""


async def write_snapshots(session: AsyncSession, snapshots: Sequence[Snapshot]) -> None:
    """Store these snapshots as each account's latest."""
    if not snapshots:
        return
    rows = sorted(snapshots, key=lambda s: s.account_id)
    conn = await driver_connection(session)
    await conn.execute(
        _UPSERT_SNAPSHOTS,
        [s.account_id for s in rows],
        [s.as_of for s in rows],
        [s.computed_at for s in rows],
        [s.scorecard_version for s in rows],
        [s.motion_segment for s in rows],
        [s.status for s in rows],
        [s.health_score for s in rows],
        [s.computed_colour for s in rows],
        [s.colour for s in rows],
        [s.override.expires_at if s.override else None for s in rows],
        [s.segment for s in rows],
        [s.tier for s in rows],
        [s.renewal_window for s in rows],
        [s.mrr_minor for s in rows],
        [s.currency for s in rows],
        [s.rfm.recency_days for s in rows],
        [s.rfm.frequency for s in rows],
        [s.model_dump_json() for s in rows],
    )


async def write_history(session: AsyncSession, snapshots: Sequence[Snapshot]) -> None:
    """Store each snapshot's score as its account's history row for its day."""
    if not snapshots:
        return
    rows = sorted(snapshots, key=lambda s: s.account_id)
    conn = await driver_connection(session)
    await conn.execute(
        _UPSERT_HISTORY,
        [s.account_id for s in rows],
        [s.as_of for s in rows],
        [s.health_score for s in rows],
        [s.colour for s in rows],
        [s.segment for s in rows],
        [s.tier for s in rows],
        [s.scorecard_version for s in rows],
    )


async def snapshots_by_id(session: AsyncSession, account_ids: Sequence[str]) -> dict[str, Snapshot]:
    """The stored snapshots of these accounts (those that have one)."""
    if not account_ids:
        return {}
    conn = await driver_connection(session)
    rows = await conn.fetch(
        "SELECT document::text FROM scoring.snapshots WHERE account_id = ANY($1::text[])",
        list(account_ids),
    )
    snapshots = (Snapshot.model_validate_json(r[0]) for r in rows)
    return {s.account_id: s for s in snapshots}


async def past_scores(
    session: AsyncSession, account_ids: Sequence[str], first_day: date, before: date
) -> dict[str, dict[date, float]]:
    """Each account's daily scores from ``first_day`` up to (not including) ``before``."""
    if not account_ids:
        return {}
    conn = await driver_connection(session)
    rows = await conn.fetch(
        """
        SELECT account_id, day, health_score FROM scoring.score_history
        WHERE account_id = ANY($1::text[]) AND day >= $2 AND day < $3
          AND health_score IS NOT NULL
        """,
        list(account_ids),
        first_day,
        before,
    )
    out: dict[str, dict[date, float]] = {}
    for account_id, day, score in rows:
        out.setdefault(account_id, {})[day] = score
    return out


async def rfm_population(session: AsyncSession) -> list[tuple[int | None, int, int]]:
    """(recency days, frequency, MRR) of every active account's snapshot."""
    conn = await driver_connection(session)
    rows = await conn.fetch(
        "SELECT recency_days, frequency, mrr_minor FROM scoring.snapshots WHERE status = 'active'"
    )
    return [(r[0], r[1], r[2]) for r in rows]


async def snapshot_document(session: AsyncSession, account_id: str) -> Snapshot | None:
    """One account's stored snapshot."""
    found = await snapshots_by_id(session, [account_id])
    return found.get(account_id)


@dataclass(frozen=True)
class ScoreFilters:
    """What a list of scores may be narrowed by."""

    colour: str | None = None
    segment: str | None = None
    tier: str | None = None
    motion: str | None = None
    renewal_window: int | None = None
    health_below: float | None = None
    health_above: float | None = None
    # Part of the account id or of its name, any case.
    search: str | None = None


def _filtered(query: Select[Any], f: ScoreFilters) -> Select[Any]:
    conditions = {
        SnapshotRow.colour: f.colour,
        SnapshotRow.segment: f.segment,
        SnapshotRow.tier: f.tier,
        SnapshotRow.motion_segment: f.motion,
        SnapshotRow.renewal_window: f.renewal_window,
    }
    for column, value in conditions.items():
        if value is not None:
            query = query.where(column == value)
    if f.health_below is not None:
        query = query.where(SnapshotRow.health_score < f.health_below)
    if f.health_above is not None:
        query = query.where(SnapshotRow.health_score > f.health_above)
    if f.search:
        # The name is read from the document: a scan, cheap at the books' sizes; a trigram
        # index on it is the next step if searches over 100,000 accounts are slow.
        pattern = contains_pattern(f.search)
        query = query.where(
            SnapshotRow.account_id.ilike(pattern, escape=LIKE_ESCAPE)
            | SnapshotRow.document["name"].astext.ilike(pattern, escape=LIKE_ESCAPE)
        )
    return query


async def list_snapshots(
    session: AsyncSession, filters: ScoreFilters, *, after: str | None, limit: int
) -> list[Snapshot]:
    """Snapshots matching the filters, by account id."""
    query = _filtered(select(SnapshotRow.document), filters)
    if after is not None:
        query = query.where(SnapshotRow.account_id > after)
    documents = await session.scalars(query.order_by(SnapshotRow.account_id).limit(limit))
    return [Snapshot.model_validate(d) for d in documents]


async def history(
    session: AsyncSession, account_id: str, first_day: date
) -> Sequence[ScoreHistory]:
    """An account's daily history from ``first_day``, oldest first."""
    query = (
        select(ScoreHistory)
        .where(ScoreHistory.account_id == account_id, ScoreHistory.day >= first_day)
        .order_by(ScoreHistory.day)
    )
    return (await session.scalars(query)).all()


async def summary(session: AsyncSession) -> list[tuple[str, str, str | None, str, int, int]]:
    """(segment, tier, colour, currency, accounts, MRR) over all snapshots."""
    rows = await session.execute(
        select(
            SnapshotRow.segment,
            SnapshotRow.tier,
            SnapshotRow.colour,
            SnapshotRow.currency,
            func.count(),
            func.coalesce(func.sum(SnapshotRow.mrr_minor), 0),
        ).group_by(SnapshotRow.segment, SnapshotRow.tier, SnapshotRow.colour, SnapshotRow.currency)
    )
    return [(s, t, c, cu, int(n), int(m)) for s, t, c, cu, n, m in rows.all()]


async def motion_snapshots(session: AsyncSession, motion: str) -> list[Snapshot]:
    """Every snapshot of a motion segment's accounts (a scorecard preview re-scores them)."""
    conn = await driver_connection(session)
    rows = await conn.fetch(
        "SELECT document::text FROM scoring.snapshots WHERE motion_segment = $1", motion
    )
    return [Snapshot.model_validate_json(r[0]) for r in rows]


async def lapsed_overrides(session: AsyncSession, now: datetime, limit: int) -> list[str]:
    """Accounts whose snapshot still shows an override that has expired."""
    rows = await session.scalars(
        select(SnapshotRow.account_id)
        .where(SnapshotRow.override_expires_at <= now)
        .order_by(SnapshotRow.override_expires_at)
        .limit(limit)
    )
    return list(rows)


async def scores_between(
    session: AsyncSession, wanted: Sequence[tuple[str, date, date]]
) -> list[tuple[float | None, str | None] | None]:
    """For each (account, first day, last day), the latest score and colour of its history in
    that range, or None; in the order asked."""
    if not wanted:
        return []
    conn = await driver_connection(session)
    rows = await conn.fetch(
        """
        SELECT q.i, h.health_score, h.colour
        FROM unnest($1::text[], $2::date[], $3::date[]) WITH ORDINALITY AS q(a, f, l, i)
        CROSS JOIN LATERAL (
            SELECT health_score, colour FROM scoring.score_history
            WHERE account_id = q.a AND day BETWEEN q.f AND q.l
            ORDER BY day DESC LIMIT 1
        ) AS h
        """,
        [w[0] for w in wanted],
        [w[1] for w in wanted],
        [w[2] for w in wanted],
    )
    found: list[tuple[float | None, str | None] | None] = [None] * len(wanted)
    for i, score, colour in rows:
        found[i - 1] = (score, colour)
    return found


async def accounts_in_motion(session: AsyncSession, motion: str) -> list[str]:
    """The scored accounts of one motion segment, by id."""
    rows = await session.scalars(
        select(SnapshotRow.account_id)
        .where(SnapshotRow.motion_segment == motion)
        .order_by(SnapshotRow.account_id)
    )
    return list(rows)
