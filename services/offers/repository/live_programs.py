"""The program versions that decide: the live version of every active program."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.offers.models import Program, ProgramVersion


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
