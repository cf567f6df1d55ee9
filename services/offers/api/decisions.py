"""Decisions: every evaluation of every program, and what came of it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from services.offers.api.deps import Reader
from services.offers.domain.decisions import DecisionOutcome
from services.offers.schemas.decisions import DecisionOut
from services.offers.service import decisions as service
from shared.deps import Session
from shared.errors import Unprocessable, responses
from shared.json_body import JsonBodyRoute
from shared.pagination import Page, PageRequest, paginated
from shared.validation import Instant, QueryText

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1/decisions", tags=["decisions"])
Pages = Annotated[PageRequest[service.Position], Depends(paginated(service.Position))]


@router.get("", responses=responses(Unprocessable))
async def list_decisions(
    session: Session,
    _: Reader,
    page: Pages,
    account_id: QueryText | None = None,
    program_id: QueryText | None = None,
    outcome: DecisionOutcome | None = None,
    since: Annotated[Instant | None, Query(alias="from", description="Inclusive")] = None,
    until: Annotated[Instant | None, Query(alias="to", description="Exclusive")] = None,
) -> Page[DecisionOut]:
    """Decisions newest first, filtered by account, program, outcome and time."""
    return await service.list_decisions(
        session,
        page,
        service.DecisionFilter(account_id, program_id, outcome, since, until),
    )
