"""Programs, their versions, their story, and the shipped defaults already seeded."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.offers.models import Program, ProgramEvent, ProgramSeed, ProgramVersion


async def claim_seeds(session: AsyncSession, programs: dict[str, str]) -> set[str]:
    """Record each default (key: program id) as seeded unless it already is; the keys this
    call recorded, which only it may now create.

    A second process claiming at once waits on the first's rows (the key is unique) and then
    claims none of them; rows go in key order so two claimers never deadlock.
    """
    stmt = (
        insert(ProgramSeed)
        .values([{"default_key": k, "program_id": programs[k]} for k in sorted(programs)])
        .on_conflict_do_nothing(index_elements=[ProgramSeed.default_key])
        .returning(ProgramSeed.default_key)
    )
    return set((await session.scalars(stmt)).all())


async def add_program(
    session: AsyncSession,
    *,
    program_id: str,
    status: str,
    live_version: int | None,
    default_key: str | None,
    created_by: str,
    at: datetime,
) -> Program:
    """Store a new program, its version 1 the newest (added next, after it)."""
    row = Program(
        id=program_id,
        status=status,
        live_version=live_version,
        latest_version=1,
        default_key=default_key,
        created_by=created_by,
        created_at=at,
        updated_at=at,
    )
    session.add(row)
    await session.flush()
    return row


async def add_version(
    session: AsyncSession,
    *,
    program_id: str,
    version: int,
    definition: dict[str, Any],
    state: str,
    created_by: str,
    at: datetime,
    approved_by: str | None = None,
    comment: str | None = None,
) -> ProgramVersion:
    """Store a version of a program; one stored approved is approved at ``at``."""
    row = ProgramVersion(
        program_id=program_id,
        version=version,
        definition=definition,
        state=state,
        created_by=created_by,
        created_at=at,
        approved_by=approved_by,
        approved_at=at if approved_by is not None else None,
        comment=comment,
    )
    session.add(row)
    await session.flush()
    return row


async def add_event(
    session: AsyncSession,
    *,
    program_id: str,
    at: datetime,
    event: str,
    principal: str,
    version: int | None,
    status: str,
    reason: str | None = None,
) -> None:
    """Record one step of a program's story and the status it left the program in."""
    session.add(
        ProgramEvent(
            program_id=program_id,
            at=at,
            event=event,
            principal=principal,
            version=version,
            status=status,
            reason=reason,
        )
    )
    await session.flush()


async def get_program(session: AsyncSession, program_id: str) -> Program | None:
    """A program, as stored now."""
    return await session.scalar(
        select(Program).where(Program.id == program_id).execution_options(populate_existing=True)
    )


async def lock_program(session: AsyncSession, program_id: str) -> Program | None:
    """A program, locked until the transaction ends: whoever changes a program (edits,
    approvals, status) takes turns, and each reads what the one before it committed."""
    return await session.scalar(
        select(Program)
        .where(Program.id == program_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def get_version(
    session: AsyncSession, program_id: str, version: int
) -> ProgramVersion | None:
    """One version of a program."""
    return await session.scalar(
        select(ProgramVersion)
        .where(ProgramVersion.program_id == program_id, ProgramVersion.version == version)
        .execution_options(populate_existing=True)
    )


async def shown_versions(
    session: AsyncSession, programs: Collection[Program]
) -> dict[tuple[str, int], ProgramVersion]:
    """The live and the newest version of each program, by (program id, version), in one
    query."""
    if not programs:
        return {}
    wanted = [
        and_(ProgramVersion.program_id == p.id, ProgramVersion.version.in_(_shown(p)))
        for p in programs
    ]
    rows = await session.scalars(
        select(ProgramVersion).where(or_(*wanted)).execution_options(populate_existing=True)
    )
    return {(r.program_id, r.version): r for r in rows}


def _shown(program: Program) -> list[int]:
    if program.live_version is None:
        return [program.latest_version]
    return [program.live_version, program.latest_version]


async def list_programs(
    session: AsyncSession, *, status: str | None, after: str | None, limit: int
) -> Sequence[Program]:
    """Programs by id, of one status or all."""
    query = select(Program).order_by(Program.id).limit(limit)
    if status is not None:
        query = query.where(Program.status == status)
    if after is not None:
        query = query.where(Program.id > after)
    return (await session.scalars(query)).all()


async def list_versions(
    session: AsyncSession, program_id: str, *, before: int | None, limit: int
) -> Sequence[ProgramVersion]:
    """A program's versions, newest first."""
    query = (
        select(ProgramVersion)
        .where(ProgramVersion.program_id == program_id)
        .order_by(ProgramVersion.version.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(ProgramVersion.version < before)
    return (await session.scalars(query)).all()


async def list_events(
    session: AsyncSession, program_id: str, *, after: int | None, limit: int
) -> Sequence[ProgramEvent]:
    """A program's story, oldest first."""
    query = (
        select(ProgramEvent)
        .where(ProgramEvent.program_id == program_id)
        .order_by(ProgramEvent.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(ProgramEvent.id > after)
    return (await session.scalars(query)).all()


async def live_versions(session: AsyncSession) -> list[tuple[str, int, dict[str, Any]]]:
    """(program id, version, definition) of each active program's live version, by id."""
    rows = await session.execute(
        select(Program.id, ProgramVersion.version, ProgramVersion.definition)
        .join(
            ProgramVersion,
            (ProgramVersion.program_id == Program.id)
            & (ProgramVersion.version == Program.live_version),
        )
        .where(Program.status == "active")
        .order_by(Program.id)
    )
    return [(program_id, version, definition) for program_id, version, definition in rows]


async def definitions(
    session: AsyncSession, versions: Collection[tuple[str, int]]
) -> dict[tuple[str, int], dict[str, Any]]:
    """The definition of each of these (program id, version), in one query."""
    if not versions:
        return {}
    wanted = [
        and_(ProgramVersion.program_id == program_id, ProgramVersion.version == version)
        for program_id, version in sorted(set(versions))
    ]
    rows = await session.execute(
        select(ProgramVersion.program_id, ProgramVersion.version, ProgramVersion.definition).where(
            or_(*wanted)
        )
    )
    return {(program_id, version): definition for program_id, version, definition in rows}


async def list_pending_versions(
    session: AsyncSession, *, after: tuple[datetime, str, int] | None, limit: int
) -> Sequence[tuple[ProgramVersion, Program]]:
    """Versions awaiting approval to go live, each with its program, oldest first (by
    creation, then program id and version), those after ``after`` in that order."""
    query = (
        select(ProgramVersion, Program)
        .join(Program, Program.id == ProgramVersion.program_id)
        .where(ProgramVersion.state == "pending")
        .order_by(ProgramVersion.created_at, ProgramVersion.program_id, ProgramVersion.version)
        .limit(limit)
    )
    if after is not None:
        key = func.row(ProgramVersion.created_at, ProgramVersion.program_id, ProgramVersion.version)
        query = query.where(key > func.row(*after))
    return [(version, program) for version, program in (await session.execute(query)).all()]
