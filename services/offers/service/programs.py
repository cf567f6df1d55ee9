"""Programs: saved as versions (trigger checked at save time), approved by a second pair of
eyes to go live, moved between statuses with a reason; the shipped defaults seeded once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.offers.domain.defaults import DEFAULT_PROGRAMS, SYSTEM_PRINCIPAL
from services.offers.domain.program_changes import approval_refusal, status_refusal
from services.offers.domain.programs import ProgramDefinition, ProgramStatus
from services.offers.domain.triggers import TriggerError, compile_trigger
from services.offers.models import Program, ProgramVersion
from services.offers.repository import programs as repo
from services.offers.schemas.programs import (
    ApproveIn,
    ProgramEventOut,
    ProgramOut,
    StatusIn,
    VersionOut,
)
from shared.errors import (
    ApprovalForbidden,
    FieldError,
    IllegalTransition,
    InvalidTrigger,
    UnknownProgram,
    Unprocessable,
)
from shared.pagination import Page, PageRequest

ProgramPosition = tuple[str]  # (id,)
VersionPosition = tuple[int]  # (version,), newest first
EventPosition = tuple[int]  # (event id,)


def check_trigger(definition: ProgramDefinition, pointer: str = "/trigger") -> None:
    """A 422 ``invalid-trigger`` pointing at the trigger (``pointer``: where the body holds
    it) for each problem (line, column and 0-based position in the detail), when it does not
    compile."""
    try:
        compile_trigger(definition.trigger)
    except TriggerError as exc:
        errors = [
            FieldError(
                pointer=pointer,
                detail=f"line {p.line}, column {p.column} (position {p.position}): {p.message}",
            )
            for p in exc.problems
        ]
        raise InvalidTrigger(
            "The trigger does not compile: " + "; ".join(e.detail for e in errors),
            errors=errors,
        ) from exc


async def check_currency(
    session: AsyncSession, program: Program, definition: ProgramDefinition, pointer: str
) -> None:
    """A 422 when an edit changes the currency of a program that has gone live: its budgets,
    offers and results are in that currency, and an amount in one currency is never counted
    against a cap in another (a program in another currency is a new program)."""
    if program.live_version is None:
        return
    live = await repo.get_version(session, program.id, program.live_version)
    if live is not None and live.definition["currency"] != definition.currency:
        raise Unprocessable.for_field(
            pointer,
            f"is {live.definition['currency']} since the program went live, and cannot change:"
            " make a new program for another currency",
        )


def _document(definition: ProgramDefinition) -> dict[str, Any]:
    return definition.model_dump(mode="json")


async def _shown(session: AsyncSession, programs: list[Program]) -> list[ProgramOut]:
    versions = await repo.shown_versions(session, programs)
    return [_program_out(p, versions) for p in programs]


def _program_out(program: Program, versions: dict[tuple[str, int], ProgramVersion]) -> ProgramOut:
    live = versions.get((program.id, program.live_version or 0))
    latest = versions.get((program.id, program.latest_version))
    pending = latest if latest is not None and latest.state == "pending" else None
    return ProgramOut(
        id=program.id,
        status=program.status,
        default_key=program.default_key,
        live_version=program.live_version,
        latest_version=program.latest_version,
        live=VersionOut.model_validate(live) if live is not None else None,
        pending=VersionOut.model_validate(pending) if pending is not None else None,
        created_by=program.created_by,
        created_at=program.created_at,
        updated_at=program.updated_at,
    )


async def _one(session: AsyncSession, program: Program) -> ProgramOut:
    return (await _shown(session, [program]))[0]


def _stamp(program: Program, now: datetime, **changes: Any) -> None:
    """Change a program's columns, stamping ``updated_at`` (flushed with the unit of work)."""
    for name, value in changes.items():
        setattr(program, name, value)
    program.updated_at = now


async def _locked(session: AsyncSession, program_id: str) -> Program:
    program = await repo.lock_program(session, program_id)
    if program is None:
        raise UnknownProgram(f"No program has the id {program_id!r}.")
    return program


async def create_program(
    session: AsyncSession, definition: ProgramDefinition, author: str
) -> ProgramOut:
    """A new program in draft, its definition as version 1 awaiting approval."""
    check_trigger(definition)
    now = datetime.now(UTC)
    program = await repo.add_program(
        session,
        program_id=str(uuid.uuid4()),
        status="draft",
        live_version=None,
        default_key=None,
        created_by=author,
        at=now,
    )
    await repo.add_version(
        session,
        program_id=program.id,
        version=1,
        definition=_document(definition),
        state="pending",
        created_by=author,
        at=now,
    )
    await repo.add_event(
        session,
        program_id=program.id,
        at=now,
        event="created",
        principal=author,
        version=1,
        status="draft",
    )
    return await _one(session, program)


async def get_program(session: AsyncSession, program_id: str) -> ProgramOut:
    """A program with its live and pending versions."""
    program = await repo.get_program(session, program_id)
    if program is None:
        raise UnknownProgram(f"No program has the id {program_id!r}.")
    return await _one(session, program)


async def list_programs(
    session: AsyncSession, status: ProgramStatus | None, page: PageRequest[ProgramPosition]
) -> Page[ProgramOut]:
    """Programs by id, of one status or all, each with its live and pending versions."""
    rows = list(
        await repo.list_programs(
            session,
            status=status,
            after=page.after[0] if page.after else None,
            limit=page.limit + 1,
        )
    )
    shown = {p.id: p for p in await _shown(session, rows[: page.limit])}
    return page.page(rows, lambda r: shown[r.id], lambda r: (r.id,))


async def edit_program(
    session: AsyncSession, program_id: str, definition: ProgramDefinition, author: str
) -> ProgramOut:
    """A new version awaiting approval; a version still awaiting it is superseded by this
    one, and the live version keeps running until the new one is approved."""
    check_trigger(definition)
    program = await _locked(session, program_id)
    if program.status == "archived":
        raise IllegalTransition("The program is archived, which is final: it cannot be edited.")
    await check_currency(session, program, definition, "/currency")
    now = datetime.now(UTC)
    latest = await repo.get_version(session, program.id, program.latest_version)
    if latest is not None and latest.state == "pending":
        latest.state = "superseded"
    version = program.latest_version + 1
    await repo.add_version(
        session,
        program_id=program.id,
        version=version,
        definition=_document(definition),
        state="pending",
        created_by=author,
        at=now,
    )
    _stamp(program, now, latest_version=version)
    await repo.add_event(
        session,
        program_id=program.id,
        at=now,
        event="edited",
        principal=author,
        version=version,
        status=program.status,
    )
    return await _one(session, program)


async def list_versions(
    session: AsyncSession, program_id: str, page: PageRequest[VersionPosition]
) -> Page[VersionOut]:
    """Every version of a program, newest first."""
    if await repo.get_program(session, program_id) is None:
        raise UnknownProgram(f"No program has the id {program_id!r}.")
    rows = await repo.list_versions(
        session, program_id, before=page.after[0] if page.after else None, limit=page.limit + 1
    )
    return page.page(rows, VersionOut.model_validate, lambda r: (r.version,))


async def approve(
    session: AsyncSession, program_id: str, body: ApproveIn, approver: str
) -> ProgramOut:
    """The pending version goes live and the one that ran is superseded; a draft program
    becomes active. Its author and the program's owner may not approve it.

    Approvers take turns on the program's row: of two approving at once, the second finds
    the version live already and gets a 409.
    """
    program = await _locked(session, program_id)
    if program.status == "archived":
        raise IllegalTransition("The program is archived, which is final: nothing goes live.")
    version = await repo.get_version(session, program.id, body.version)
    if version is None or version.state != "pending":
        # Only the newest version can be pending, and only until it goes live.
        waiting = program.latest_version != program.live_version
        raise IllegalTransition(
            f"Version {body.version} is not awaiting approval"
            + (f"; version {program.latest_version} is." if waiting else "; no version is.")
        )
    definition = ProgramDefinition.model_validate(version.definition)
    live = None
    if program.live_version is not None:
        live = await repo.get_version(session, program.id, program.live_version)
    current_owner = None if live is None else str(live.definition["owner"])
    refusal = approval_refusal(approver, version.created_by, definition.owner, current_owner)
    if refusal:
        raise ApprovalForbidden(f"Approval refused: {refusal}.")
    now = datetime.now(UTC)
    if live is not None:
        live.state = "superseded"
    version.state = "live"
    version.approved_by = approver
    version.approved_at = now
    version.comment = body.comment
    _stamp(
        program,
        now,
        live_version=version.version,
        status="active" if program.status == "draft" else program.status,
    )
    await repo.add_event(
        session,
        program_id=program.id,
        at=now,
        event="approved",
        principal=approver,
        version=version.version,
        status=program.status,
        reason=body.comment,
    )
    return await _one(session, program)


async def set_status(
    session: AsyncSession, program_id: str, body: StatusIn, principal: str
) -> ProgramOut:
    """Move a program to active, paused or archived, keeping who did it and why."""
    program = await _locked(session, program_id)
    refusal = status_refusal(
        program.status,  # type: ignore[arg-type]
        body.status,
        program.live_version is not None,
    )
    if refusal:
        raise IllegalTransition(f"The program cannot become {body.status}: {refusal}.")
    now = datetime.now(UTC)
    _stamp(program, now, status=body.status)
    await repo.add_event(
        session,
        program_id=program.id,
        at=now,
        event="status",
        principal=principal,
        version=None,
        status=body.status,
        reason=body.reason,
    )
    return await _one(session, program)


async def list_events(
    session: AsyncSession, program_id: str, page: PageRequest[EventPosition]
) -> Page[ProgramEventOut]:
    """A program's story, oldest first: created, edited, approved, status changes."""
    if await repo.get_program(session, program_id) is None:
        raise UnknownProgram(f"No program has the id {program_id!r}.")
    rows = await repo.list_events(
        session, program_id, after=page.after[0] if page.after else None, limit=page.limit + 1
    )
    return page.page(rows, ProgramEventOut.model_validate, lambda r: (r.id,))


async def ensure_defaults(session: AsyncSession) -> list[str]:
    """Create each shipped default not created before in this database, active with version
    1 live; the keys created now.

    Each default's seed row is claimed first (``ON CONFLICT DO NOTHING``) in the same
    transaction as the program, so two processes starting at once create it once, and a
    default edited or archived since is never made again.
    """
    claimed = await repo.claim_seeds(session, {key: key for key in DEFAULT_PROGRAMS})
    now = datetime.now(UTC)
    for key in sorted(claimed):
        await repo.add_program(
            session,
            program_id=key,
            status="active",
            live_version=1,
            default_key=key,
            created_by=SYSTEM_PRINCIPAL,
            at=now,
        )
        await repo.add_version(
            session,
            program_id=key,
            version=1,
            definition=_document(DEFAULT_PROGRAMS[key]),
            state="live",
            created_by=SYSTEM_PRINCIPAL,
            at=now,
            approved_by=SYSTEM_PRINCIPAL,
            comment="Tenure's default",
        )
        await repo.add_event(
            session,
            program_id=key,
            at=now,
            event="created",
            principal=SYSTEM_PRINCIPAL,
            version=1,
            status="active",
            reason="Tenure's default",
        )
    return sorted(claimed)
