"""The type rules the checker applies: ``Typed`` (a type and where it was read from), and the
relations between types (``unify``, ``equatable``, ``orderable``, ``arithmetic``), the allowed
values of Literal-typed fields and the literals' own types."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from services.offers.domain.fields import (
    BOOL,
    DOUBLE,
    DYN,
    INT,
    NULL,
    STRING,
    UINT,
    CelType,
    ListOf,
    MapOf,
    Message,
    Nullable,
    Scalar,
)

# The kinds of scalar that are numbers: they compare with each other but do not mix in arithmetic.
NUMERIC = ("int", "uint", "double")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


@dataclass(frozen=True)
class Typed:
    """A node's type, as the checker inferred it."""

    type: CelType
    # Where a value read from the snapshot comes from ("rfm.recency_days", "measures[]"),
    # so evaluation can say which field was null.
    path: str | None = None


def bare(t: CelType) -> CelType:
    """The type without its nullability (a null operand is a run-time miss, by design)."""
    return t.inner if isinstance(t, Nullable) else t


def kind_of(t: CelType) -> str | None:
    """The scalar kind ("int", "string", "dyn"...) of a possibly nullable type, else None."""
    t = bare(t)
    return t.kind if isinstance(t, Scalar) else None


def plain(t: CelType) -> CelType:
    """A scalar without its allowed values (what arithmetic on a Literal field yields)."""
    t = bare(t)
    return Scalar(t.kind) if isinstance(t, Scalar) else t


def unify(a: CelType, b: CelType) -> CelType | None:
    """The one type both values have (an empty list's items fit any), else None."""
    if a == DYN:
        return b
    if b == DYN or a == b:
        return a
    if isinstance(a, Scalar) and isinstance(b, Scalar) and a.kind == b.kind:
        return Scalar(a.kind)
    if NULL in (a, b):
        # A literal null beside a value would reach operators that refuse it.
        return None
    if isinstance(a, Nullable) or isinstance(b, Nullable):
        inner = unify(bare(a), bare(b))
        return None if inner is None else Nullable(inner)
    if isinstance(a, ListOf) and isinstance(b, ListOf):
        item = unify(a.item, b.item)
        return None if item is None else ListOf(item)
    if isinstance(a, MapOf) and isinstance(b, MapOf):
        key, value = unify(a.key, b.key), unify(a.value, b.value)
        return None if key is None or value is None else MapOf(key, value)
    return None


def equatable(a: CelType, b: CelType) -> bool:
    """Whether ``==`` between the two is meaningful (the runtime answers false otherwise)."""
    if DYN in (a, b):
        return True
    if NULL in (a, b):
        other = b if a == NULL else a
        return isinstance(other, Nullable) or other == NULL
    a, b = bare(a), bare(b)
    if isinstance(a, Scalar) and isinstance(b, Scalar):
        return a.kind == b.kind or (a.kind in NUMERIC and b.kind in NUMERIC)
    if isinstance(a, ListOf) and isinstance(b, ListOf):
        return equatable(a.item, b.item)
    if isinstance(a, MapOf) and isinstance(b, MapOf):
        return equatable(a.key, b.key) and equatable(a.value, b.value)
    return isinstance(a, Message) and isinstance(b, Message) and a.name == b.name


def orderable(a: CelType, b: CelType) -> bool:
    """Whether ``<`` and the like between the two are meaningful."""
    if DYN in (a, b):
        return True
    ka, kb = kind_of(a), kind_of(b)
    if ka is None or kb is None or "null" in (ka, kb):
        return False
    return ka == kb or (ka in NUMERIC and kb in NUMERIC)


def arithmetic(op: str, a: CelType, b: CelType) -> CelType | None:
    """The type of ``a op b`` for ``+ - * / %``, or None where the runtime would refuse it."""
    a, b = plain(a), plain(b)
    if DYN in (a, b):
        return b if a == DYN else a
    if op == "+" and isinstance(a, ListOf) and isinstance(b, ListOf):
        return unify(a, b)
    ka, kb = kind_of(a), kind_of(b)
    if ka != kb:
        return None
    if op == "%":
        return a if ka in ("int", "uint") else None
    if op == "+" and ka == "string":
        return a
    return a if ka in NUMERIC else None


# The type of each kind of literal the parser reads.
LITERAL_TYPES: dict[str, CelType] = {
    "int": INT,
    "uint": UINT,
    "double": DOUBLE,
    "string": STRING,
    "bool": BOOL,
    "null": NULL,
}


def allowed_values(t: CelType) -> tuple[str | int, ...] | None:
    """The allowed values of a Literal-typed value, if it is one."""
    scalar = bare(t)
    return scalar.values if isinstance(scalar, Scalar) else None


def disjoint(a: CelType, b: CelType) -> bool:
    """Whether two Literal-typed values can never be equal."""
    values, other = allowed_values(a), allowed_values(b)
    return values is not None and other is not None and not set(values) & set(other)


def is_date(text: str) -> bool:
    """Whether a string literal is a real date written 'YYYY-MM-DD'."""
    if not _ISO_DATE.fullmatch(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True
