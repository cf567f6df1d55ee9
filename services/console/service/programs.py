"""The programs pages: every program's figures, one program with its versions and its
go-live approval, and the editor's calls (trigger check, dry run, simulation, save).

The offers API does every check (the trigger's, the definition's, who may approve); the
console shows its answers and the problems by field."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from services.console.api.deps import Person
from services.console.domain import programs as rules
from services.console.platform import ApiProblem, Platform, ServiceDown, segment
from services.console.service.panels import Panel, items, panel

# One page of programs (the API's largest); more is said on the page.
PROGRAMS_LIMIT = 500
# Versions of one program shown, newest first.
VERSIONS_LIMIT = 500
# The go-live approvals searched for this program's (oldest first).
APPROVALS_LIMIT = 500


@dataclass
class ListView:
    """Every program with its figures."""

    programs: Panel[list[dict[str, Any]]]
    more: bool = False


async def programs_list(platform: Platform, person: Person) -> ListView:
    """Every program's status, versions, budget, offers by state and run-out date: one call."""
    found = await panel(
        platform.get("offers", "/v1/programs/summary", person.key, limit=PROGRAMS_LIMIT)
    )
    return ListView(
        programs=Panel(items(found.data), found.down, found.refused, found.status),
        more=bool(found.data and found.data.get("next_cursor")),
    )


@dataclass
class ProgramView:
    """One program, its versions, the chosen version's changes and its approval state."""

    program: Panel[dict[str, Any]]
    versions: Panel[list[dict[str, Any]]]
    approval: Panel[dict[str, Any] | None]
    chosen: dict[str, Any] | None = None
    previous: dict[str, Any] | None = None
    changes: list[rules.Change] = field(default_factory=list)


def _approval_of(page: Any, program_id: str) -> dict[str, Any] | None:
    return next((i for i in items(page) if i.get("program_id") == program_id), None)


async def program_page(
    platform: Platform, person: Person, program_id: str, version: int | None
) -> ProgramView:
    """The program, its versions newest first, what ``version`` (else the newest) changed
    from the one before, and whether its pending version may be approved by this person."""
    path = f"/v1/programs/{segment(program_id)}"
    program, versions, approvals = await asyncio.gather(
        panel(platform.get("offers", path, person.key)),
        panel(platform.get("offers", f"{path}/versions", person.key, limit=VERSIONS_LIMIT)),
        panel(platform.get("offers", "/v1/approvals/programs", person.key, limit=APPROVALS_LIMIT)),
    )
    listed = items(versions.data)
    view = ProgramView(
        program=program,
        versions=Panel(listed, versions.down, versions.refused, versions.status),
        approval=Panel(
            _approval_of(approvals.data, program_id),
            approvals.down,
            approvals.refused,
            approvals.status,
        ),
    )
    by_number = {int(v["version"]): v for v in listed}
    wanted = version if version is not None else max(by_number, default=None)
    if wanted is not None and wanted in by_number:
        view.chosen = by_number[wanted]
        view.previous = by_number.get(wanted - 1)
        view.changes = rules.version_diff(
            view.previous["definition"] if view.previous else None,
            view.chosen["definition"],
        )
    return view


async def program_of(platform: Platform, person: Person, program_id: str) -> Panel[dict[str, Any]]:
    """The program (for its editor)."""
    return await panel(platform.get("offers", f"/v1/programs/{segment(program_id)}", person.key))


async def check_trigger(platform: Platform, person: Person, trigger: str) -> Panel[dict[str, Any]]:
    """The offers API's check of a trigger: ``ok`` or its problems with their positions."""
    return await panel(
        platform.post("offers", "/v1/programs/check-trigger", person.key, {"trigger": trigger})
    )


def _tool(program_id: str | None, name: str) -> str:
    # A program not saved yet is tried by the tools' routes without an id.
    if program_id is None:
        return f"/v1/programs/{name}"
    return f"/v1/programs/{segment(program_id)}/{name}"


async def dry_run(
    platform: Platform,
    person: Person,
    program_id: str | None,
    account_id: str,
    definition: dict[str, Any],
) -> dict[str, Any]:
    """The edited definition (of the program, or not saved yet when ``program_id`` is None)
    decided for one account, recording nothing (``ApiProblem`` or ``ServiceDown`` as the API
    answers)."""
    body = {"account_id": account_id, "definition": definition}
    result: dict[str, Any] = await platform.post(
        "offers", _tool(program_id, "dry-run"), person.key, body
    )
    return result


async def simulate(
    platform: Platform, person: Person, program_id: str | None, definition: dict[str, Any]
) -> dict[str, Any]:
    """The edited definition simulated on every kept snapshot, recording nothing."""
    result: dict[str, Any] = await platform.post(
        "offers", _tool(program_id, "simulate"), person.key, {"definition": definition}
    )
    return result


async def save(
    platform: Platform, person: Person, program_id: str | None, definition: dict[str, Any]
) -> dict[str, Any]:
    """Create the program (``program_id`` None) or save a new version of it, as this person:
    the program as the API answers it."""
    if program_id is None:
        created: dict[str, Any] = await platform.post(
            "offers", "/v1/programs", person.key, definition
        )
        return created
    edited: dict[str, Any] = await platform.call(
        "offers", "PUT", f"/v1/programs/{segment(program_id)}", person.key, json=definition
    )
    return edited


def problem_fields(exc: ApiProblem) -> dict[str, list[str]]:
    """A refusal's errors by the editor field they are in."""
    return rules.fields_marked(exc.field_errors())


@dataclass
class EditorView:
    """The editor: the program (None for a new one), its fields, what the last action
    answered, and each field's problems."""

    program_id: str | None
    program: Panel[dict[str, Any]] | None
    fields: dict[str, str]
    account_id: str = ""
    problems: dict[str, list[str]] = field(default_factory=dict)
    detail: str | None = None
    status: int = 200
    down: str | None = None
    trigger_check: dict[str, Any] | None = None
    marked: list[rules.Marked] = field(default_factory=list)
    dry_run: dict[str, Any] | None = None
    simulation: dict[str, Any] | None = None
    saved: dict[str, Any] | None = None


def _starting_fields(program: dict[str, Any] | None) -> dict[str, str]:
    """The newest version's definition (pending, else live), or a new program's defaults."""
    if program is None:
        return rules.form_values(rules.NEW_PROGRAM)
    newest = program.get("pending") or program.get("live") or {}
    return rules.form_values(newest.get("definition") or rules.NEW_PROGRAM)


async def open_editor(platform: Platform, person: Person, program_id: str | None) -> EditorView:
    """The editor filled with the program's newest definition (or a new one's defaults)."""
    if program_id is None:
        return EditorView(None, None, _starting_fields(None))
    program = await program_of(platform, person, program_id)
    return EditorView(program_id, program, _starting_fields(program.data))


async def editor_action(
    platform: Platform,
    person: Person,
    program_id: str | None,
    sent: dict[str, str],
    action: str,
    account_id: str,
) -> EditorView:
    """Do what the editor's button asked with its fields (``save``, ``dry-run`` or
    ``simulate``): the editor again with the answer, the problems by field on a refusal, or
    ``saved`` set when the program was saved."""
    program = None if program_id is None else await program_of(platform, person, program_id)
    view = EditorView(program_id, program, sent, account_id=account_id)
    definition, not_json = rules.definition_of(sent)
    if not_json:
        view.problems = {name: [why] for name, why in not_json.items()}
        view.detail, view.status = "Some fields are not valid JSON.", 422
        return view
    try:
        if action == "dry-run":
            view.dry_run = await dry_run(platform, person, program_id, account_id, definition)
        elif action == "simulate":
            view.simulation = await simulate(platform, person, program_id, definition)
        else:
            view.saved = await save(platform, person, program_id, definition)
    except ApiProblem as exc:
        view.problems = problem_fields(exc)
        view.detail, view.status = exc.detail, exc.status
        if "trigger" in view.problems:
            check = await check_trigger(platform, person, sent.get("trigger", "") or " ")
            if check.data:
                view.marked = rules.mark_problems(sent.get("trigger", ""), check.data["problems"])
    except ServiceDown as exc:
        view.down, view.status = str(exc), 503
    return view
