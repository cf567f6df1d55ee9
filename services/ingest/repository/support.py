"""Support's SQL: tickets and survey responses."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.domain.support import TicketState
from services.ingest.models import SurveyResponse, Ticket


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
    session: AsyncSession, account_ids: Sequence[str], *, before: datetime | None = None
) -> dict[tuple[str, str], SurveyResponse]:
    """The newest NPS and CSAT response of each account (responded before ``before``, if
    given: as of a day, its next UTC midnight)."""
    query = select(SurveyResponse).where(SurveyResponse.account_id.in_(list(account_ids)))
    if before is not None:
        query = query.where(SurveyResponse.responded_at < before)
    rows = await session.scalars(
        query.ext(distinct_on(SurveyResponse.account_id, SurveyResponse.kind)).order_by(
            SurveyResponse.account_id, SurveyResponse.kind, SurveyResponse.responded_at.desc()
        )
    )
    return {(r.account_id, r.kind): r for r in rows}
