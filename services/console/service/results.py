"""The results pages: every program (links to each), and one program's treated against
held-out accounts, as the offers API answers them for this person."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date
from typing import Any

from services.console.api.deps import Person
from services.console.domain import results as shape
from services.console.platform import Platform, segment
from services.console.service.panels import Panel, items, panel

# One page of the programs list; a longer list follows the cursor with a "next" link.
PROGRAMS_LIMIT = 200


@dataclass
class ProgramsView:
    """The programs, one page of them, and the cursor of the next page."""

    programs: Panel[list[dict[str, Any]]]
    next_cursor: str | None


async def programs(platform: Platform, person: Person, cursor: str | None) -> ProgramsView:
    """One page of programs (by id), each with what the list shows of it."""
    found = await panel(
        platform.get("offers", "/v1/programs", person.key, limit=PROGRAMS_LIMIT, cursor=cursor)
    )
    listed = [shape.program_summary(p) for p in items(found.data)]
    next_cursor = found.data.get("next_cursor") if isinstance(found.data, dict) else None
    return ProgramsView(Panel(listed, found.down, found.refused, found.status), next_cursor)


@dataclass
class ResultsView:
    """One program's results: the program, and what the offers API computed of it."""

    program_id: str
    program: Panel[dict[str, Any]]
    results: Panel[dict[str, Any]]
    start: date | None
    end: date | None

    @property
    def figures(self) -> shape.Figures | None:
        """The results shaped for the page (None without them)."""
        return shape.figures(self.results.data) if self.results.data else None

    @property
    def name(self) -> str:
        """The program's name (its id when unknown)."""
        return shape.program_name(self.program.data, self.program_id)

    @property
    def status(self) -> int:
        """The page's status: the offers API's refusal (404, 422) when it refused."""
        return self.program.status or self.results.status or 200


async def program_results(
    platform: Platform, person: Person, program_id: str, start: date | None, end: date | None
) -> ResultsView:
    """The program and its results in [start, end) (whole UTC days), asked at once."""
    program, results = await asyncio.gather(
        panel(platform.get("offers", f"/v1/programs/{segment(program_id)}", person.key)),
        panel(
            platform.get(
                "offers",
                f"/v1/programs/{segment(program_id)}/results",
                person.key,
                **{"from": shape.day_start(start), "to": shape.day_start(end)},
            )
        ),
    )
    return ResultsView(program_id, program, results, start, end)
