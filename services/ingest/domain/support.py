"""Support tickets and survey responses: what values they take and how tickets move."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

SURVEY_RANGES = {"nps": (0, 10), "csat": (1, 5)}


@dataclass(frozen=True)
class TicketState:
    """A ticket as stored."""

    status: str
    severity: str
    opened_at: datetime | None
    closed_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True)
class TicketUpdate:
    """A ticket's status as some system reports it at a moment."""

    status: str
    severity: str
    at: datetime


@dataclass(frozen=True)
class TicketOutcome:
    """The state to store, and the days on which an opening or closing is counted."""

    state: TicketState | None  # None: nothing to change (a stale or repeated update)
    opened_on: date | None = None
    closed_on: date | None = None


def apply_ticket_update(current: TicketState | None, update: TicketUpdate) -> TicketOutcome:
    """Move a ticket to the reported status; updates older than the stored one change nothing.

    Repeating an update is a no-op, so retries never double-count; a reopened ticket counts
    as opened again on the day it reopened.
    """
    at, day = update.at, update.at.date()
    if current is None:
        opened = update.status == "open"
        return TicketOutcome(
            TicketState(
                update.status, update.severity, at if opened else None, None if opened else at, at
            ),
            opened_on=day if opened else None,
            closed_on=None if opened else day,
        )
    if at <= current.updated_at:
        return TicketOutcome(None)
    if current.status == update.status:
        return TicketOutcome(replace(current, severity=update.severity, updated_at=at))
    if update.status == "closed":
        return TicketOutcome(
            replace(
                current, status="closed", severity=update.severity, closed_at=at, updated_at=at
            ),
            closed_on=day,
        )
    return TicketOutcome(
        replace(
            current,
            status="open",
            severity=update.severity,
            opened_at=at,
            closed_at=None,
            updated_at=at,
        ),
        opened_on=day,
    )
