"""Support tickets and NPS/CSAT survey responses."""

from __future__ import annotations

from datetime import UTC

from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.domain.support import TicketState, TicketUpdate, apply_ticket_update
from services.ingest.models import Ticket
from services.ingest.repository import rollups as rollups_repo
from services.ingest.repository import support as support_repo
from services.ingest.schemas.support import SurveyIn, SurveyOut, TicketIn, TicketOut
from services.ingest.service.changes import notify_changed
from services.ingest.service.preconditions import require_account


async def record_ticket(session: AsyncSession, body: TicketIn) -> TicketOut:
    """Apply a ticket status update; a stale or repeated update changes and counts nothing."""
    await require_account(session, body.account_id)
    return await apply_ticket(session, body)


async def apply_ticket(session: AsyncSession, body: TicketIn) -> TicketOut:
    """Apply a ticket update to an account known to exist (the API's, or a webhook's)."""
    update = TicketUpdate(body.status, body.severity, body.occurred_at.astimezone(UTC))
    current_row = await support_repo.ticket_for_update(session, body.ticket_id)
    current = _ticket_state(current_row) if current_row is not None else None
    outcome = apply_ticket_update(current, update)
    if outcome.state is not None and current is None:
        if not await support_repo.insert_ticket(
            session, body.ticket_id, body.account_id, outcome.state
        ):
            # Another request created it first: start again from what it stored.
            current_row = await support_repo.ticket_for_update(session, body.ticket_id)
            assert current_row is not None
            current = _ticket_state(current_row)
            outcome = apply_ticket_update(current, update)
            if outcome.state is not None:
                await support_repo.update_ticket(session, body.ticket_id, outcome.state)
    elif outcome.state is not None:
        await support_repo.update_ticket(session, body.ticket_id, outcome.state)
    await rollups_repo.add_counters(
        session,
        [
            (body.account_id, day, counter)
            for day, counter in (
                (outcome.opened_on, "tickets_opened"),
                (outcome.closed_on, "tickets_closed"),
            )
            if day is not None
        ],
    )
    if outcome.state is not None:
        notify_changed(session, {body.account_id})
    state = outcome.state or current
    assert state is not None
    return TicketOut(
        ticket_id=body.ticket_id,
        account_id=body.account_id,
        status=state.status,
        severity=state.severity,
        opened_at=state.opened_at,
        closed_at=state.closed_at,
        applied=outcome.state is not None,
    )


def _ticket_state(row: Ticket) -> TicketState:
    return TicketState(row.status, row.severity, row.opened_at, row.closed_at, row.updated_at)


async def record_survey(session: AsyncSession, body: SurveyIn) -> SurveyOut:
    """Store a survey response once per id."""
    await require_account(session, body.account_id)
    return await store_survey(session, body)


async def store_survey(session: AsyncSession, body: SurveyIn) -> SurveyOut:
    """Store a response for an account known to exist, once per id."""
    created = await support_repo.insert_survey(session, body.model_dump())
    if created:
        notify_changed(session, {body.account_id})
    return SurveyOut(id=body.id, duplicate=not created)
