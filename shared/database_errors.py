"""What a database error means for the caller: the one SQLSTATE mapping that the HTTP safety
net (``shared.error_handlers``) and the ledger's per-item batch answers share."""

from __future__ import annotations

import re

import asyncpg
from sqlalchemy.exc import DBAPIError

from shared.errors import (
    ConstraintViolated,
    Duplicate,
    FieldError,
    RetryLater,
    TenureError,
    UnknownReference,
    UnstorableValue,
)


def _driver_error(exc: Exception) -> BaseException:
    """The driver's own error, whether SQLAlchemy wrapped it or it was raised raw."""
    orig: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
    return orig.__cause__ or orig


def database_error_state(exc: Exception) -> str | None:
    """The SQLSTATE behind a database error; ``22000`` for a value the driver refused."""
    orig = _driver_error(exc)
    state = getattr(orig, "sqlstate", None)
    if state is None and isinstance(orig, asyncpg.DataError):
        return "22000"
    return state if isinstance(state, str) else None


def database_error_message(exc: Exception) -> str:
    """The database's own one-line reason, without the statement or its parameters."""
    orig = _driver_error(exc)
    message = str(getattr(orig, "message", None) or orig).splitlines()[0]
    return message[:300]


_KEY_COLUMNS = re.compile(r"^Key \((?P<columns>[^)]*(?:\([^)]*\)[^)]*)*)\)=")


def _fields(columns: list[str], detail: str, constraint: str) -> list[FieldError]:
    """One error per column at fault, or one naming the constraint when no column is known."""
    if columns:
        return [FieldError(detail=detail, pointer=f"/{c}") for c in columns]
    return [FieldError(detail=f"violates {constraint}", pointer="")]


def constraint_error(exc: Exception) -> TenureError | None:
    """The caller's error behind an integrity violation (SQLSTATE class 23), if it is one.

    Names the columns or constraint at fault, never a value: the value may be a secret (a
    write key's hash) or another tenant's data.
    """
    orig = _driver_error(exc)
    state = database_error_state(exc) or ""
    constraint = getattr(orig, "constraint_name", None) or "a constraint"
    match = _KEY_COLUMNS.match(str(getattr(orig, "detail", None) or ""))
    columns = [c.strip().strip('"') for c in match["columns"].split(",")] if match else []
    if state == "23505":
        names = ", ".join(columns) or constraint
        return Duplicate(
            f"Another record already has this {names}; it must be unique.",
            errors=_fields(columns, "already taken", constraint),
        )
    if state == "23503":
        names = ", ".join(columns) or constraint
        return UnknownReference(
            f"The {names} refers to something that does not exist ({constraint}).",
            errors=_fields(columns, "does not exist", constraint),
        )
    if state == "23502":
        column = getattr(orig, "column_name", None) or "a required field"
        return ConstraintViolated(
            f"The {column} is required.",
            errors=[FieldError(detail="is required", pointer=f"/{column}")],
        )
    if state.startswith("23"):  # check (23514), exclusion (23P01) and the rest of the class
        return ConstraintViolated(
            f"The request breaks the rule {constraint}.",
            errors=[FieldError(detail=f"violates {constraint}", pointer="")],
        )
    return None


# SQLSTATEs after which the request may be sent again: a deadlock or serialization failure
# changed nothing, and after a server shutdown or a lost connection every write path here is
# safe to repeat (idempotency keys, event ids).
RETRYABLE_STATES = frozenset({"40001", "40P01", "57P01", "57P02", "57P03"})


def database_problem(exc: Exception, *, name_constraints: bool = True) -> TenureError | None:
    """What a database error is to the caller, or None when it is the service's own fault.

    A value PostgreSQL cannot store (class 22) is a 422 ``unstorable-value``; an integrity
    violation (class 23) is the problem ``constraint_error`` names, or, with
    ``name_constraints=False`` (rows built by the service, whose columns name nothing the
    caller sent), an unstorable value too; a deadlock, serialization failure, shutdown or
    lost connection is a 503 ``retry``.
    """
    state = database_error_state(exc) or ""
    if state.startswith("23") and name_constraints:
        return constraint_error(exc)
    if state.startswith(("22", "23")):
        return UnstorableValue(
            f"A value in the request cannot be stored: {database_error_message(exc)}"
        )
    lost_types = (asyncpg.ConnectionDoesNotExistError, ConnectionError)
    lost = isinstance(exc, lost_types) or isinstance(_driver_error(exc), lost_types)
    if lost or state in RETRYABLE_STATES or state.startswith("08"):
        return RetryLater(
            "The database could not finish the request; send it again (a repeat with the same"
            " Idempotency-Key or event ids is safe).",
            headers={"Retry-After": "1"},
        )
    return None
