"""The programs pages' pure rules: what changed between two versions of a definition, a
trigger problem drawn under its line, a budget's bar and its words, and the editor's form
read into a definition (pure)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.console.domain import formatting
from services.console.domain.charts import RESERVED, SPENT, Segment

# The definition's parts in the order a person reads them (the editor's order too).
SECTIONS = (
    "name",
    "description",
    "owner",
    "currency",
    "trigger",
    "eligibility",
    "reward",
    "limits",
    "approval",
    "holdout_percent",
    "window",
)
# The nested parts the editor takes as JSON, each in its own labelled textarea.
JSON_PARTS = ("eligibility", "reward", "limits", "approval", "window")
TEXT_PARTS = ("name", "description", "owner", "currency", "trigger", "holdout_percent")


@dataclass(frozen=True)
class Change:
    """One value that differs between two versions: where (``limits.budget_minor``), in
    which part of the definition, and the two values as JSON text (None: absent)."""

    section: str
    path: str
    before: str | None
    after: str | None


def _flatten(value: Any, prefix: str) -> dict[str, Any]:
    """Leaves of nested objects by dotted path; a list is one leaf (compared whole), and so
    is an empty object below the top (``{}`` is a value: no tier budgets)."""
    if isinstance(value, Mapping) and (value or not prefix):
        out: dict[str, Any] = {}
        for key in sorted(value):
            out.update(_flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def version_diff(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[Change]:
    """What changed from ``before`` (None: the first version, everything is new) to
    ``after``, in the definition's reading order (``SECTIONS``, then any other part)."""
    old = _flatten(dict(before or {}), "")
    new = _flatten(dict(after), "")
    order = {s: n for n, s in enumerate(SECTIONS)}
    paths = sorted(set(old) | set(new), key=lambda p: (order.get(p.split(".")[0], 99), p))
    changes = []
    for path in paths:
        if path in old and path in new and old[path] == new[path]:
            continue
        changes.append(
            Change(
                section=path.split(".")[0],
                path=path,
                before=_shown(old[path]) if path in old else None,
                after=_shown(new[path]) if path in new else None,
            )
        )
    return changes


def changed_sections(changes: Sequence[Change]) -> list[str]:
    """The parts of the definition the changes touch, in reading order, once each."""
    return list(dict.fromkeys(c.section for c in changes))


@dataclass(frozen=True)
class Marked:
    """A trigger problem drawn as text: the line it is on, a caret under its column."""

    line: int
    column: int
    message: str
    source_line: str
    caret: str


def mark_problems(trigger: str, problems: Sequence[Mapping[str, Any]]) -> list[Marked]:
    """Each problem (``line``, ``column`` 1-based, ``message``) with its line of the trigger
    and a caret under the column (a position past the line's end is marked just after it)."""
    lines = trigger.split("\n")
    marked = []
    for problem in problems:
        line, column = int(problem.get("line", 1)), int(problem.get("column", 1))
        text = lines[line - 1] if 0 < line <= len(lines) else ""
        # Tabs stay tabs under the line, so the caret lines up however they are shown.
        pad = "".join("\t" if ch == "\t" else " " for ch in text[: max(column - 1, 0)])
        pad += " " * max(column - 1 - len(text), 0)
        marked.append(Marked(line, column, str(problem.get("message", "")), text, pad + "^"))
    return marked


@dataclass(frozen=True)
class BudgetBar:
    """The program budget as a bar (spent, then reserved, of the cap) and in words."""

    segments: tuple[Segment, ...]
    cap_minor: int | None
    words: str


def budget_bar(
    reserved_minor: int, spent_minor: int, cap_minor: int | None, currency: str
) -> BudgetBar:
    """The bar's parts and the sentence that says the same (the bar's text alternative)."""
    spent = formatting.money(spent_minor, currency)
    reserved = formatting.money(reserved_minor, currency)
    if cap_minor is None:
        words = f"Spent {spent}, reserved {reserved}; no budget cap"
    else:
        used = spent_minor + reserved_minor
        words = (
            f"Spent {spent} (dark blue), reserved {reserved} (light blue) of a cap of"
            f" {formatting.money(cap_minor, currency)}: {formatting.share(used, cap_minor)} used,"
            f" {formatting.money(cap_minor - used, currency)} left"
        )
    segments = (
        Segment(spent_minor, SPENT, "spent"),
        Segment(reserved_minor, RESERVED, "reserved"),
    )
    return BudgetBar(segments, cap_minor, words)


def form_values(definition: Mapping[str, Any]) -> dict[str, str]:
    """The editor's fields filled from a definition: text as is, nested parts as indented
    JSON."""
    values = {}
    for name in TEXT_PARTS:
        value = definition.get(name)
        values[name] = "" if value is None else str(value)
    for name in JSON_PARTS:
        values[name] = json.dumps(definition.get(name, {}), indent=2, sort_keys=True)
    return values


def definition_of(fields: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The definition the editor's fields say, and each field that is not JSON (or not a
    number) with why; the API checks the rest and says so by pointer."""
    body: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in ("name", "description", "owner", "currency", "trigger"):
        body[name] = fields.get(name, "")
    holdout = fields.get("holdout_percent", "").strip()
    if holdout:
        # Sent as the decimal text it is (the API reads "12.5" exactly, never as a float).
        body["holdout_percent"] = holdout
    for name in JSON_PARTS:
        raw = fields.get(name, "").strip()
        if not raw:
            continue
        try:
            body[name] = json.loads(raw)
        except json.JSONDecodeError as exc:
            errors[name] = f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
    return body, errors


def field_of(pointer: str) -> str:
    """The editor's field a problem's JSON pointer is in (``/definition/limits/budget_minor``
    is in ``limits``); ``form`` for one about the whole body."""
    parts = [p for p in pointer.split("/") if p]
    if parts and parts[0] == "definition":
        parts = parts[1:]
    if parts and parts[0] in SECTIONS:
        return parts[0]
    if parts and parts[0] == "account_id":
        return "account_id"
    return "form"


def fields_marked(problems: Mapping[str, str]) -> dict[str, list[str]]:
    """The API's errors by pointer gathered by the editor field they belong to, each said
    with its pointer when it is deeper than the field (``/limits/budget_minor: ...``)."""
    out: dict[str, list[str]] = {}
    for pointer, detail in problems.items():
        name = field_of(pointer)
        deeper = pointer.removeprefix("/definition").strip("/") not in (name, "")
        out.setdefault(name, []).append(f"{pointer}: {detail}" if deeper else detail)
    return out


# What a new program's editor starts from: a small renewal credit, asking an approver.
NEW_PROGRAM: dict[str, Any] = {
    "name": "",
    "description": "",
    "owner": "",
    "currency": "USD",
    "trigger": "account.days_to_renewal <= 60",
    "eligibility": {"statuses": ["active"]},
    "reward": {"kind": "credit", "amount": {"amount_minor": 50000}, "expires_after": "P90D"},
    "limits": {"max_offers_per_account": 1, "period_days": 365, "cooldown_days": 30},
    "approval": {"auto_approve_up_to_minor": 0},
    "holdout_percent": "10",
    "window": {},
}
