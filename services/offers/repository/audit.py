"""The audit log's SQL: program and offer events together, newest first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, String, cast, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from services.offers.models import OfferEvent, ProgramEvent
from shared.audit import AuditFilter, narrowed

# A row's place in the log: (at, source, id), source 1 for offer events, 0 for programs'.
Position = tuple[datetime, int, int]


async def list_events(
    session: AsyncSession, where: AuditFilter, *, before: Position | None, limit: int
) -> Sequence[Row[Any]]:
    """Program and offer events newest first (by time, then source, then id), before
    ``before``; each row: at, source, id, event, principal, subject, summary, detail."""
    programs = select(
        ProgramEvent.at.label("at"),
        literal(0).label("source"),
        ProgramEvent.id.label("id"),
        ProgramEvent.event.label("event"),
        ProgramEvent.principal.label("principal"),
        ProgramEvent.program_id.label("subject"),
        ProgramEvent.reason.label("summary"),
        func.jsonb_build_object(
            "version", ProgramEvent.version, "status", ProgramEvent.status
        ).label("detail"),
    )
    offers = select(
        OfferEvent.at,
        literal(1),
        OfferEvent.id,
        OfferEvent.event,
        OfferEvent.principal,
        cast(OfferEvent.offer_id, String),
        OfferEvent.comment,
        OfferEvent.detail.op("||")(func.jsonb_build_object("state", OfferEvent.state)),
    )
    programs = narrowed(programs, ProgramEvent.at, ProgramEvent.principal, where)
    offers = narrowed(offers, OfferEvent.at, OfferEvent.principal, where)
    both = union_all(programs, offers).subquery()
    query = select(both).order_by(both.c.at.desc(), both.c.source.desc(), both.c.id.desc())
    if before is not None:
        query = query.where(func.row(both.c.at, both.c.source, both.c.id) < func.row(*before))
    return (await session.execute(query.limit(limit))).all()
