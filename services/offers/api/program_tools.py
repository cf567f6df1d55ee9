"""Programs' read-only tools: every program's figures, a trigger checked on its own, one
account decided without recording (registered before ``programs``, whose ``/{program_id}``
would otherwise take ``summary``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends

from services.offers.api.deps import Reader
from services.offers.schemas.program_tools import (
    CheckTriggerIn,
    CheckTriggerOut,
    DryRunIn,
    DryRunOut,
    DryRunUnsavedIn,
    ProgramSummaryOut,
)
from services.offers.service import program_tools as service
from services.offers.service.programs import ProgramPosition
from shared.deps import Session
from shared.errors import (
    Conflict,
    InvalidTrigger,
    UnknownAccount,
    UnknownProgram,
    Unprocessable,
    responses,
)
from shared.json_body import JsonBodyRoute
from shared.pagination import Page, PageRequest, paginated
from shared.validation import PathId

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1/programs", tags=["programs"])
SummaryPages = Annotated[PageRequest[ProgramPosition], Depends(paginated(ProgramPosition))]


@router.get("/summary", responses=responses(Unprocessable))
async def program_summaries(
    session: Session, _: Reader, page: SummaryPages
) -> Page[ProgramSummaryOut]:
    """Programs by id with their figures: status, live and pending version, offers by state,
    what they reserve and spend, each budget's cap and committed amount, and the day it runs
    out at the recent pace (the simulation's rule with nothing simulated)."""
    return await service.summaries_page(session, page, datetime.now(UTC))


# ``offers:read``: checking a trigger reads nothing and changes nothing.
@router.post("/check-trigger", responses=responses(Unprocessable))
async def check_trigger(body: CheckTriggerIn, _: Reader) -> CheckTriggerOut:
    """Whether a CEL trigger compiles and checks as a saved program's would: ``ok``, or its
    problems in source order, each with its 0-based position and 1-based line and column
    (a 200 either way: the check itself succeeded)."""
    return service.check_trigger_text(body.trigger)


# ``offers:read``, as a simulation: it records, reserves and offers nothing.
@router.post("/dry-run", responses=responses(InvalidTrigger, UnknownAccount, Unprocessable))
async def dry_run_unsaved(body: DryRunUnsavedIn, session: Session, _: Reader) -> DryRunOut:
    """Decide a definition not saved as a program yet for one account's kept snapshot, as
    ``/{program_id}/dry-run`` decides an edited one: its budgets have nothing committed and
    its holdout is drawn under a stand-in id. A bad trigger is a 422 at
    ``/definition/trigger``; an account offers has no snapshot of is a 422 at
    ``/account_id``."""
    return await service.dry_run(session, None, body.account_id, body.definition, datetime.now(UTC))


@router.post(
    "/{program_id}/dry-run",
    responses=responses(UnknownProgram, Conflict, InvalidTrigger, UnknownAccount, Unprocessable),
)
async def dry_run(program_id: PathId, body: DryRunIn, session: Session, _: Reader) -> DryRunOut:
    """Decide the program for one account's kept snapshot now, recording, reserving and
    offering nothing: the outcome and its reason, the would-be offer's value, the approvals
    it would need and whether it fits each budget. Decides ``definition`` when given (a bad
    trigger is a 422 at ``/definition/trigger``), else the pending version, else the live
    one; an account offers has no snapshot of is a 422 at ``/account_id``."""
    return await service.dry_run(
        session, program_id, body.account_id, body.definition, datetime.now(UTC)
    )
