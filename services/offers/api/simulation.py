"""Simulate a program: what it would offer on every kept snapshot, offering nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from services.offers.api.deps import Reader
from services.offers.schemas.simulation import SimulateIn, SimulateUnsavedIn, SimulationOut
from services.offers.service import simulation as service
from shared.deps import Session
from shared.errors import Conflict, InvalidTrigger, UnknownProgram, Unprocessable, responses
from shared.json_body import JsonBodyRoute
from shared.validation import PathId

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1/programs", tags=["programs"])


# ``offers:read`` is enough here too; the route has no id, so it is declared before
# ``/{program_id}/simulate`` for a reader's sake only (the paths cannot collide).
@router.post("/simulate", responses=responses(InvalidTrigger, Unprocessable))
async def simulate_unsaved(body: SimulateUnsavedIn, session: Session, _: Reader) -> SimulationOut:
    """Simulate a definition before it is saved as a program, as ``/{program_id}/simulate``
    does with an edited one: nothing is committed against its budgets yet, and its holdout
    is drawn under a stand-in id (the saved program's holdout holds other accounts, about as
    many). A bad trigger is a 422 ``invalid-trigger`` at ``/definition/trigger``."""
    return await service.simulate(session, None, body.definition, datetime.now(UTC))


# ``offers:read`` is enough: a simulation records, reserves and offers nothing (its
# transaction is read-only), so it tells the caller no more than the decisions and programs
# it may already read.
@router.post(
    "/{program_id}/simulate",
    responses=responses(UnknownProgram, Conflict, InvalidTrigger, Unprocessable),
)
async def simulate(
    program_id: PathId, session: Session, _: Reader, body: SimulateIn | None = None
) -> SimulationOut:
    """Decide the program on every kept snapshot now without recording, reserving or offering
    anything: accounts by outcome, would-be offers and their cost by tier and segment, cost
    as a percent of those accounts' ARR, and when each budget would run out at the pace.
    Simulates ``definition`` when given (checked as a save checks it: a bad trigger is a 422
    ``invalid-trigger`` at ``/definition/trigger``), else the pending version, else the live
    one."""
    return await service.simulate(
        session, program_id, body.definition if body else None, datetime.now(UTC)
    )
