"""The snapshot fields a program trigger may read, as CEL types, declared once from ``Snapshot``.

The trigger checker, the evaluation context and the README's table all read ``ACCOUNT`` (the
type of the ``account`` variable), so a field cannot be usable in one and unknown to another.
Dates are ``'YYYY-MM-DD'`` strings in CEL (the form the stored JSON already has): they order
as dates and compare with a literal as written, ``account.as_of >= '2030-06-01'``.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from shared.contracts import Snapshot

ScalarKind = Literal["int", "uint", "double", "string", "bool", "date", "null", "dyn"]


@dataclass(frozen=True)
class Scalar:
    """A CEL scalar; ``values`` lists the allowed ones when the field is a ``Literal``.

    ``date`` is a string at run time; ``dyn`` is only the item type of an empty list literal.
    """

    kind: ScalarKind
    values: tuple[str | int, ...] | None = None


@dataclass(frozen=True)
class Nullable:
    """A value that may be ``null``."""

    inner: CelType


@dataclass(frozen=True)
class ListOf:
    """A CEL list."""

    item: CelType


@dataclass(frozen=True)
class MapOf:
    """A CEL map."""

    key: CelType
    value: CelType


@dataclass(frozen=True)
class Field:
    """One declared field: its name, CEL type and meaning."""

    name: str
    type: CelType
    description: str


@dataclass(frozen=True)
class Message:
    """A nested model, read in CEL as a map with these fields only."""

    name: str
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field | None:
        """The declared field of that name, if any."""
        return next((f for f in self.fields if f.name == name), None)


CelType = Scalar | Nullable | ListOf | MapOf | Message

INT = Scalar("int")
UINT = Scalar("uint")
DOUBLE = Scalar("double")
STRING = Scalar("string")
BOOL = Scalar("bool")
DATE = Scalar("date")
NULL = Scalar("null")
DYN = Scalar("dyn")

# Left out of the declaration, by dotted path: not facts about the account a trigger could
# sensibly test (and CEL has no "now" to compare an instant with).
EXCLUDED = frozenset({"computed_at", "override.expires_at", "override.created_at"})

# Meanings for the fields whose model gives none (the table must say what each one is).
MEANINGS = {
    "account_id": "The account's id in the customer's system",
    "as_of": "The day the snapshot scores",
    "scorecard_motion": "The motion of the scorecard that scored it",
    "scorecard_version": "The version of the scorecard that scored it",
    "name": "The account's name",
    "motion_segment": "The account's motion segment",
    "plan": "The account's plan, if known",
    "status": "The account's status",
    "billing_period": "How often the account is billed",
    "currency": "The currency of the money amounts",
    "mrr_minor": "Monthly recurring revenue, in minor units",
    "arr_minor": "Annual recurring revenue, in minor units",
    "seats_purchased": "Seats on the contract",
    "computed_colour": "The colour of the health score (red < 40 <= yellow < 70 <= green)",
    "override": "A CSM's colour override in force, if any",
    "override.colour": "The override's colour",
    "override.reason": "Why the CSM set it",
    "override.created_by": "Who set it",
    "health_change_7d": "Health score now minus 7 days ago",
    "health_change_30d": "Health score now minus 30 days ago",
    "measures.measure": "The measure's name, e.g. 'nps', 'login_recency'",
    "measures.raw": "The measure's raw value",
    "measures.missing": "Whether the measure had no data",
    "measures.weight": "The scorecard's weight",
    "measures.effective_weight": "The weight after spreading missing measures' weight",
    "drivers.measure": "The measure's name",
    "drivers.lost": "Points it cost",
    "drivers.sub_score": "Its sub-score, 0-100",
    "drivers.raw": "Its raw value",
    "rfm.r": "Recency quintile, 1-5 (5 best)",
    "rfm.f": "Frequency quintile, 1-5 (5 best)",
    "rfm.m": "Monetary quintile, 1-5 (5 best)",
    "segment": "The account's segment (first matching rule)",
    "tier": "By active seats: silver up to 25, gold 26-100, platinum above",
    "days_since_contract_start": "Days since the contract started",
    "days_to_renewal": "Days to the renewal date (negative once passed)",
    "renewal_window": "60, 90 or 120 once within that many days of renewal",
    "paid_months": "Calendar months with an invoice paid",
    "cancel_intent": "Whether the account said it means to cancel",
    "nps": "The newest NPS response, 0-10",
}


def cel_type(annotation: Any, path: str) -> CelType:
    """The CEL type of a pydantic field annotation (``path`` names it in errors and docs)."""
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Annotated:
        return cel_type(args[0], path)
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1 or len(args) != 2:
            raise TypeError(f"{path}: only X | None unions are supported")
        return Nullable(cel_type(rest[0], path))
    if origin is Literal:
        kinds = {type(a) for a in args}
        if kinds == {str}:
            return Scalar("string", tuple(args))
        if kinds == {int}:
            return Scalar("int", tuple(args))
        raise TypeError(f"{path}: a Literal must be all strings or all ints")
    if origin is list:
        return ListOf(cel_type(args[0], path))
    if origin is dict:
        return MapOf(cel_type(args[0], path), cel_type(args[1], path))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return message_type(annotation, path)
    # bool before int and datetime before date: each is a subclass of the other.
    for python, cel in ((bool, BOOL), (int, INT), (float, DOUBLE), (str, STRING)):
        if annotation is python:
            return cel
    if annotation is date:
        return DATE
    if isinstance(annotation, type) and issubclass(annotation, datetime):
        raise TypeError(f"{path}: instants are not declared for triggers (add it to EXCLUDED)")
    raise TypeError(f"{path}: no CEL type for {annotation!r}")


def message_type(model: type[BaseModel], prefix: str = "") -> Message:
    """A model's declared fields (less ``EXCLUDED``), as a CEL message type."""
    fields = []
    for name, info in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        if path in EXCLUDED:
            continue
        described = info.description or MEANINGS.get(path) or _model_doc(info.annotation)
        fields.append(Field(name, cel_type(info.annotation, path), described))
    return Message(model.__name__, tuple(fields))


def _model_doc(annotation: Any) -> str:
    """The first line of a nested model's docstring, to describe the field holding it."""
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel) and candidate.__doc__:
            return candidate.__doc__.strip().splitlines()[0]
    return ""


# The type of the ``account`` variable.
ACCOUNT = message_type(Snapshot)


def type_name(t: CelType) -> str:
    """A CEL type as the checker's messages and the README write it."""
    if isinstance(t, Scalar):
        if t.values is not None:
            return f"{t.kind} (one of " + ", ".join(repr(v) for v in t.values) + ")"
        return "date ('YYYY-MM-DD')" if t.kind == "date" else t.kind
    if isinstance(t, Nullable):
        return f"{type_name(t.inner)} or null"
    if isinstance(t, ListOf):
        return f"list of {type_name(t.item)}"
    if isinstance(t, MapOf):
        return f"map from {type_name(t.key)} to {type_name(t.value)}"
    return f"{t.name} object"


def fields_markdown() -> str:
    """The declared fields as a Markdown table: name, type and meaning, nested fields indented
    by their path (``account.measures[i].sub_score``)."""
    rows = ["| field | type | meaning |", "|---|---|---|"]

    def add(message: Message, prefix: str) -> None:
        for f in message.fields:
            path = f"{prefix}.{f.name}"
            rows.append(f"| `{path}` | {_cell(type_name(f.type))} | {_cell(f.description)} |")
            inner = f.type.inner if isinstance(f.type, Nullable) else f.type
            if isinstance(inner, Message):
                add(inner, path)
            elif isinstance(inner, ListOf) and isinstance(inner.item, Message):
                add(inner.item, f"{path}[i]")

    add(ACCOUNT, "account")
    return "\n".join(rows) + "\n"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")
