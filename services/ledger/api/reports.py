"""Statements and reports for finance: every total comes from the postings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from services.ledger.api.deps import Reader
from services.ledger.schemas import ExpiringRow, LiabilityOut, MonthlyOut, StatementOut, Unit
from services.ledger.service import reports as service
from shared.deps import Session
from shared.errors import BadRequest, NotFound, Unprocessable, responses
from shared.json_body import JsonBodyRoute
from shared.pagination import PageRequest, paginated
from shared.validation import Instant, PathId, QueryText

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1", tags=["reports"])
StatementPosition = tuple[datetime, int]  # (effective_at, posting id)


@router.get(
    "/accounts/{account_id}/statement", responses=responses(NotFound, Unprocessable, BadRequest)
)
async def get_statement(
    account_id: PathId,
    session: Session,
    _: Reader,
    page: Annotated[PageRequest[StatementPosition], Depends(paginated(StatementPosition))],
    unit: Unit,
    start: Annotated[
        Instant, Query(alias="from", description="Start of the period, with its UTC offset")
    ],
    end: Annotated[
        Instant,
        Query(alias="to", description="End of the period (exclusive), with its UTC offset"),
    ],
) -> StatementOut:
    """Opening balance, each transaction with the balance after it, closing balance."""
    return await service.statement(session, account_id, unit, start, end, page)


@router.get("/reports/liability", responses=responses())
async def liability(session: Session, _: Reader) -> LiabilityOut:
    """Outstanding credit by unit, program, tier and age bucket."""
    return await service.liability_report(session)


@router.get("/reports/expiring", responses=responses())
async def expiring(session: Session, _: Reader) -> list[ExpiringRow]:
    """Credit expiring within the next 30, 60 and 90 days, by unit."""
    return await service.expiring_report(session)


ProgramFilter = Annotated[QueryText | None, Query(description="Only this program's credit")]


@router.get("/reports/grants", responses=responses(Unprocessable))
async def grants(session: Session, _: Reader, program_id: ProgramFilter = None) -> MonthlyOut:
    """Credit granted (the programs' expense, net of reversed grants), by month and program."""
    return await service.monthly_report(session, "expense", by_program=True, program_id=program_id)


@router.get("/reports/breakage", responses=responses(Unprocessable))
async def breakage(session: Session, _: Reader, program_id: ProgramFilter = None) -> MonthlyOut:
    """Credit that expired unused, by month and program."""
    return await service.monthly_report(session, "breakage", by_program=True, program_id=program_id)


@router.get("/reports/redemptions", responses=responses(Unprocessable))
async def redemptions(session: Session, _: Reader, program_id: ProgramFilter = None) -> MonthlyOut:
    """Credit applied to invoices (net of reversed redemptions), by month; with
    ``program_id``, what was applied from that program's lots (its rows name the program)."""
    return await service.monthly_report(
        session, "invoices", by_program=False, program_id=program_id
    )
