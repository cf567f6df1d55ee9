"""Programs: the list, one program with its versions, and the editor."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console.api.deps import CheckedForm, CurrentPerson, PlatformApi, form_text
from services.console.domain import charts
from services.console.domain import programs as rules
from services.console.rendering import page, templates
from services.console.service import programs as service
from shared.validation import ID_PATTERN

router = APIRouter(tags=["programs"])
ProgramId = Annotated[str, Path(max_length=200, pattern=ID_PATTERN)]
WRITE_SCOPE = "offers:write"


@router.get("/programs", response_class=HTMLResponse)
async def programs(request: Request, person: CurrentPerson, platform: PlatformApi) -> HTMLResponse:
    """Every program with its status, live version, budget, offers by state and run-out."""
    view = await service.programs_list(platform, person)
    context = {"view": view, "active": "programs", "limit": service.PROGRAMS_LIMIT}
    helpers = {"bar": rules.budget_bar, "chart": charts.stacked_bar}
    return page(request, "programs.html", {**context, **helpers})


def _editor(request: Request, view: service.EditorView, may_write: bool) -> HTMLResponse:
    context = {"view": view, "active": "programs", "may_write": may_write}
    return page(request, "program_edit.html", context, view.status)


@router.get("/programs/new", response_class=HTMLResponse)
async def new_program(
    request: Request, person: CurrentPerson, platform: PlatformApi
) -> HTMLResponse:
    """The editor for a new program (a draft until a version is approved)."""
    view = await service.open_editor(platform, person, None)
    return _editor(request, view, person.may(WRITE_SCOPE))


def _trigger(form: CheckedForm) -> str:
    # The trigger keeps its own spacing (a caret points into it), with the CRLF line breaks
    # a browser sends made LF: the API counts lines and columns by LF.
    raw = form.get("trigger")
    return raw.replace("\r\n", "\n") if isinstance(raw, str) else ""


def _fields(form: CheckedForm) -> dict[str, str]:
    fields = {name: form_text(form, name) for name in rules.SECTIONS}
    fields["trigger"] = _trigger(form)
    return fields


def _action(form: CheckedForm) -> str:
    # The editor's buttons: a dry run, a simulation, or (any other press) a save.
    action = form_text(form, "action")
    return action if action in ("dry-run", "simulate") else "save"


@router.post("/programs/new", response_class=HTMLResponse)
async def create_program(
    request: Request, person: CurrentPerson, form: CheckedForm, platform: PlatformApi
) -> Response:
    """Dry-run, simulate or create the program as this person; problems come back on the form
    by field."""
    view = await service.editor_action(
        platform, person, None, _fields(form), _action(form), form_text(form, "account_id")
    )
    if view.saved is not None:
        return RedirectResponse(f"/programs/{view.saved['id']}?saved=1", status_code=303)
    return _editor(request, view, person.may(WRITE_SCOPE))


@router.post("/programs/check-trigger", response_class=HTMLResponse)
async def check_trigger(
    request: Request, person: CurrentPerson, form: CheckedForm, platform: PlatformApi
) -> HTMLResponse:
    """The offers API's check of the typed trigger, as the part of the editor htmx swaps in:
    ok, or each problem at its line and column with a caret under it."""
    trigger = _trigger(form)
    check = await service.check_trigger(platform, person, trigger) if trigger.strip() else None
    marked = rules.mark_problems(trigger, check.data["problems"]) if check and check.data else []
    context = {"check": check, "marked": marked, "empty": not trigger.strip()}
    return templates.TemplateResponse(request, "_trigger_check.html", context)


@router.get("/programs/{program_id}", response_class=HTMLResponse)
async def program(
    request: Request,
    program_id: ProgramId,
    person: CurrentPerson,
    platform: PlatformApi,
    version: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    saved: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
) -> HTMLResponse:
    """The program's definition, its versions with what the chosen one changed, and its
    go-live approval."""
    view = await service.program_page(platform, person, program_id, version)
    status = view.program.status or (503 if view.program.down else 200)
    context = {"view": view, "active": "programs", "saved": saved, "program_id": program_id}
    return page(request, "program.html", context, status)


@router.get("/programs/{program_id}/edit", response_class=HTMLResponse)
async def edit_program(
    request: Request, program_id: ProgramId, person: CurrentPerson, platform: PlatformApi
) -> HTMLResponse:
    """The editor filled with the program's newest version."""
    view = await service.open_editor(platform, person, program_id)
    if view.program is not None and not view.program.ok:
        view.status = view.program.status or 503
    return _editor(request, view, person.may(WRITE_SCOPE))


@router.post("/programs/{program_id}/edit", response_class=HTMLResponse)
async def save_program(
    request: Request,
    program_id: ProgramId,
    person: CurrentPerson,
    form: CheckedForm,
    platform: PlatformApi,
) -> Response:
    """Dry-run, simulate or save the edited definition as this person."""
    view = await service.editor_action(
        platform, person, program_id, _fields(form), _action(form), form_text(form, "account_id")
    )
    if view.saved is not None:
        number = view.saved["latest_version"]
        return RedirectResponse(f"/programs/{program_id}?saved={number}", status_code=303)
    return _editor(request, view, person.may(WRITE_SCOPE))
