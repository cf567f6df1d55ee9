"""The results pages: every program, and one program's treated against held-out accounts."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from services.console.api.deps import CurrentPerson, PlatformApi
from services.console.rendering import page
from services.console.service import results as service
from shared.validation import ID_PATTERN

router = APIRouter(tags=["results"])
ProgramId = Annotated[str, Path(max_length=200, pattern=ID_PATTERN)]


@router.get("/results", response_class=HTMLResponse)
async def results_list(
    request: Request,
    person: CurrentPerson,
    platform: PlatformApi,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> HTMLResponse:
    """Every program (a page of them), each linking to its results."""
    view = await service.programs(platform, person, cursor)
    status = view.programs.status or 200
    return page(request, "results_list.html", {"view": view, "active": "results"}, status)


@router.get("/results/{program_id}", response_class=HTMLResponse)
async def program_results(
    request: Request,
    program_id: ProgramId,
    person: CurrentPerson,
    platform: PlatformApi,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
) -> HTMLResponse:
    """A program's treated against held-out accounts at renewal: counts, rates, the
    difference with its interval, NRR, costs, and the sample ratio check."""
    view = await service.program_results(platform, person, program_id, start, end)
    context = {"view": view, "figures": view.figures, "active": "results"}
    return page(request, "results.html", context, view.status)
