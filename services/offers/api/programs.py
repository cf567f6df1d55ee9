"""Programs: versioned definitions, approved by someone other than their author and owner."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from services.offers.api.deps import ProgramApprover, Reader, Writer
from services.offers.domain.programs import ProgramDefinition, ProgramStatus
from services.offers.schemas.programs import (
    ApproveIn,
    ProgramEventOut,
    ProgramOut,
    StatusIn,
    VersionOut,
)
from services.offers.service import programs as service
from shared.deps import Session
from shared.errors import (
    ApprovalForbidden,
    IllegalTransition,
    InvalidTrigger,
    UnknownProgram,
    Unprocessable,
    responses,
)
from shared.json_body import JsonBodyRoute
from shared.pagination import Page, PageRequest, paginated
from shared.validation import PathId

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1/programs", tags=["programs"])
ProgramPages = Annotated[
    PageRequest[service.ProgramPosition], Depends(paginated(service.ProgramPosition))
]
VersionPages = Annotated[
    PageRequest[service.VersionPosition], Depends(paginated(service.VersionPosition))
]
EventPages = Annotated[
    PageRequest[service.EventPosition], Depends(paginated(service.EventPosition))
]


@router.post("", status_code=201, responses=responses(InvalidTrigger, Unprocessable))
async def create_program(
    body: ProgramDefinition, session: Session, principal: Writer
) -> ProgramOut:
    """Create a program in draft, its definition as version 1 awaiting approval. The trigger
    is compiled now: a problem is a 422 ``invalid-trigger`` saying where in it."""
    return await service.create_program(session, body, principal.name)


@router.get("", responses=responses(Unprocessable))
async def list_programs(
    session: Session, _: Reader, page: ProgramPages, status: ProgramStatus | None = None
) -> Page[ProgramOut]:
    """Programs by id, optionally of one status."""
    return await service.list_programs(session, status, page)


@router.get("/{program_id}", responses=responses(UnknownProgram))
async def get_program(program_id: PathId, session: Session, _: Reader) -> ProgramOut:
    """A program, the version that runs and the one awaiting approval (if any)."""
    return await service.get_program(session, program_id)


@router.put(
    "/{program_id}",
    responses=responses(UnknownProgram, IllegalTransition, InvalidTrigger, Unprocessable),
)
async def edit_program(
    program_id: PathId, body: ProgramDefinition, session: Session, principal: Writer
) -> ProgramOut:
    """Save a new version awaiting approval (superseding one that still awaits it); the live
    version runs until the new one is approved. An archived program cannot be edited (409)."""
    return await service.edit_program(session, program_id, body, principal.name)


@router.get("/{program_id}/versions", responses=responses(UnknownProgram))
async def list_versions(
    program_id: PathId, session: Session, _: Reader, page: VersionPages
) -> Page[VersionOut]:
    """Every version, newest first: who wrote it and when, who approved it and when, its
    state."""
    return await service.list_versions(session, program_id, page)


@router.get("/{program_id}/events", responses=responses(UnknownProgram))
async def list_events(
    program_id: PathId, session: Session, _: Reader, page: EventPages
) -> Page[ProgramEventOut]:
    """What happened to the program, oldest first: who did it, when and why."""
    return await service.list_events(session, program_id, page)


@router.post(
    "/{program_id}/approve",
    responses=responses(UnknownProgram, ApprovalForbidden, IllegalTransition, Unprocessable),
)
async def approve(
    program_id: PathId, body: ApproveIn, session: Session, principal: ProgramApprover
) -> ProgramOut:
    """Put the pending version live (the one that ran is superseded; a draft becomes active).
    Its author and the program's owner may not approve it (403); a version not pending is a
    409."""
    return await service.approve(session, program_id, body, principal.name)


@router.post(
    "/{program_id}/status",
    responses=responses(UnknownProgram, IllegalTransition, Unprocessable),
)
async def set_status(
    program_id: PathId, body: StatusIn, session: Session, principal: Writer
) -> ProgramOut:
    """Make a program active (it needs an approved version), paused (from active) or archived
    (final), with a reason."""
    return await service.set_status(session, program_id, body, principal.name)
