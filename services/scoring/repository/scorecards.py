"""Scorecard versions and the RFM cuts in force."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.models import RfmCuts, Scorecard

_VERSION_LOCK = 0x7363  # "sc": one saver of a motion's scorecard at a time


async def insert_first_versions(
    session: AsyncSession, defaults: dict[str, tuple[dict[str, Any], dict[str, Any]]]
) -> None:
    """Store version 1 of each motion's scorecard (weights, thresholds) unless it exists."""
    rows = [
        {
            "motion": motion,
            "version": 1,
            "weights": weights,
            "thresholds": thresholds,
            "comment": "Tenure's default",
            "created_by": "tenure",
        }
        for motion, (weights, thresholds) in sorted(defaults.items())
    ]
    await session.execute(insert(Scorecard).values(rows).on_conflict_do_nothing())


async def current_scorecards(session: AsyncSession) -> dict[str, Scorecard]:
    """The newest version of every motion's scorecard."""
    rows = await session.scalars(
        select(Scorecard)
        .ext(distinct_on(Scorecard.motion))
        .order_by(Scorecard.motion, Scorecard.version.desc())
    )
    return {r.motion: r for r in rows}


async def versions(session: AsyncSession, motion: str) -> Sequence[Scorecard]:
    """Every version of a motion's scorecard, newest first."""
    rows = await session.scalars(
        select(Scorecard).where(Scorecard.motion == motion).order_by(Scorecard.version.desc())
    )
    return rows.all()


async def add_version(
    session: AsyncSession,
    motion: str,
    weights: dict[str, Any],
    thresholds: dict[str, Any],
    *,
    comment: str | None,
    created_by: str,
) -> Scorecard:
    """Store the next version of a motion's scorecard, one past the newest.

    Writers of one motion take turns (a transaction lock on the motion), so two saving at
    once get consecutive versions rather than one colliding with the other.
    """
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:k, hashtext(:motion))"),
        {"k": _VERSION_LOCK, "motion": motion},
    )
    newest = await session.scalar(
        select(func.coalesce(func.max(Scorecard.version), 0)).where(Scorecard.motion == motion)
    )
    row = Scorecard(
        motion=motion,
        version=int(newest or 0) + 1,
        weights=weights,
        thresholds=thresholds,
        comment=comment,
        created_by=created_by,
    )
    session.add(row)
    await session.flush()
    return row


async def rfm_cuts(session: AsyncSession) -> RfmCuts | None:
    """The RFM cut points in force, if a full recompute has taken them."""
    return await session.get(RfmCuts, 1)


async def store_rfm_cuts(session: AsyncSession, cuts: dict[str, Any], population: int) -> None:
    """Replace the RFM cut points in force."""
    stmt = insert(RfmCuts).values(id=1, cuts=cuts, population=population)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[RfmCuts.id],
            set_={"cuts": cuts, "population": population, "computed_at": func.now()},
        )
    )
