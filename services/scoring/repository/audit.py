"""The audit log's SQL: scorecard versions and colour overrides (set and cleared)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, String, cast, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.models import ColourOverride, Scorecard
from shared.audit import AuditFilter, narrowed

# A row's place in the log: (at, source, key); source 0 scorecards, 1 overrides set, 2
# overrides cleared; key the scorecard's "motion:version" or the override's id.
Position = tuple[datetime, int, str]
# Who cleared an override nobody cleared by hand: the worker, when it expired.
EXPIRY = "service:scoring"


async def list_changes(
    session: AsyncSession, where: AuditFilter, *, before: Position | None, limit: int
) -> Sequence[Row[Any]]:
    """Scorecard versions and overrides newest first (time, source, key), before
    ``before``; each row: at, source, key, principal, subject, summary, detail."""
    cleared_by = func.coalesce(ColourOverride.cleared_by, EXPIRY)
    scorecards = narrowed(
        select(
            Scorecard.created_at.label("at"),
            literal(0).label("source"),
            (Scorecard.motion + ":" + cast(Scorecard.version, String)).label("key"),
            Scorecard.created_by.label("principal"),
            Scorecard.motion.label("subject"),
            Scorecard.comment.label("summary"),
            func.jsonb_build_object("version", Scorecard.version).label("detail"),
        ),
        Scorecard.created_at,
        Scorecard.created_by,
        where,
    )
    detail = func.jsonb_build_object(
        "colour", ColourOverride.colour, "expires_at", ColourOverride.expires_at
    )
    set_ = narrowed(
        select(
            ColourOverride.created_at,
            literal(1),
            cast(ColourOverride.id, String),
            ColourOverride.created_by,
            ColourOverride.account_id,
            ColourOverride.reason,
            detail,
        ),
        ColourOverride.created_at,
        ColourOverride.created_by,
        where,
    )
    cleared = narrowed(
        select(
            ColourOverride.cleared_at,
            literal(2),
            cast(ColourOverride.id, String),
            cleared_by,
            ColourOverride.account_id,
            ColourOverride.reason,
            detail,
        ).where(ColourOverride.cleared_at.is_not(None)),
        ColourOverride.cleared_at,
        cleared_by,
        where,
    )
    every = union_all(scorecards, set_, cleared).subquery()
    query = select(every).order_by(every.c.at.desc(), every.c.source.desc(), every.c.key.desc())
    if before is not None:
        query = query.where(func.row(every.c.at, every.c.source, every.c.key) < func.row(*before))
    return (await session.execute(query.limit(limit))).all()
