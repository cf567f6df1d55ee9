"""Decisions: written by COPY (there are many), read newest first, old ones forgotten."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.offers.models import Decision
from shared.db import driver_connection

DecisionRecord = tuple[
    int | None, datetime, str, str, int, str, str, object, datetime
]  # id (None: the sequence's), decided_at, account, program, version, outcome, reason,
#    offer id, snapshot computed_at
_COLUMNS = (
    "decided_at",
    "account_id",
    "program_id",
    "program_version",
    "outcome",
    "reason",
    "offer_id",
    "snapshot_computed_at",
)


async def reserve_ids(session: AsyncSession, count: int) -> list[int]:
    """``count`` decision ids taken from the table's sequence, for decisions an offer must
    name before both are written."""
    if count == 0:
        return []
    rows = await session.execute(
        text(
            "SELECT nextval(pg_get_serial_sequence('offers.decisions', 'id'))"
            " FROM generate_series(1, :n)"
        ),
        {"n": count},
    )
    return [row[0] for row in rows]


async def record(session: AsyncSession, records: Sequence[DecisionRecord]) -> None:
    """Store decisions in one COPY each for those with and without an id of their own."""
    if not records:
        return
    conn = await driver_connection(session)
    named = [r for r in records if r[0] is not None]
    unnamed = [r[1:] for r in records if r[0] is None]
    if unnamed:
        await conn.copy_records_to_table(
            "decisions", schema_name="offers", columns=_COLUMNS, records=unnamed
        )
    if named:
        await conn.copy_records_to_table(
            "decisions", schema_name="offers", columns=("id", *_COLUMNS), records=named
        )


async def list_decisions(
    session: AsyncSession,
    *,
    account_id: str | None,
    program_id: str | None,
    outcome: str | None,
    since: datetime | None,
    until: datetime | None,
    before_id: int | None,
    limit: int,
) -> Sequence[Decision]:
    """Decisions newest first (by id), filtered."""
    query = select(Decision).order_by(Decision.id.desc()).limit(limit)
    if account_id is not None:
        query = query.where(Decision.account_id == account_id)
    if program_id is not None:
        query = query.where(Decision.program_id == program_id)
    if outcome is not None:
        query = query.where(Decision.outcome == outcome)
    if since is not None:
        query = query.where(Decision.decided_at >= since)
    if until is not None:
        query = query.where(Decision.decided_at < until)
    if before_id is not None:
        query = query.where(Decision.id < before_id)
    return (await session.scalars(query)).all()


async def forget(
    session: AsyncSession, *, outcomes: Sequence[str], decided_before: datetime, limit: int
) -> int:
    """Delete up to ``limit`` of the oldest decisions with these outcomes decided before a
    time; returns how many went."""
    oldest = (
        select(Decision.id)
        .where(Decision.outcome.in_(outcomes), Decision.decided_at < decided_before)
        .order_by(Decision.id)
        .limit(limit)
    )
    result = await session.execute(
        delete(Decision).where(Decision.id.in_(oldest.scalar_subquery()))
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
