"""One mapping from database errors to problems (``shared.errors.database_problem``), used by
the HTTP safety net and by the ledger's batch items alike."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError

from services.ledger.domain.writes import WriteOp
from services.ledger.schemas import ReversalIn
from services.ledger.service.batches import failure_outcome
from shared.database_errors import database_problem
from shared.errors import ConstraintViolated, Duplicate, RetryLater, UnstorableValue, problem_type


def wrapped(exc: Exception) -> DBAPIError:
    """As SQLAlchemy raises a driver's error."""
    return DBAPIError("INSERT ...", {}, exc)


@pytest.mark.parametrize("wrap", [False, True])
@pytest.mark.parametrize(
    ("exc", "named", "unnamed"),
    [
        (asyncpg.exceptions.NumericValueOutOfRangeError("out of range"), UnstorableValue, None),
        (asyncpg.exceptions.UniqueViolationError("dup"), Duplicate, UnstorableValue),
        (asyncpg.exceptions.CheckViolationError("check"), ConstraintViolated, UnstorableValue),
        (asyncpg.exceptions.DeadlockDetectedError("deadlock"), RetryLater, None),
        (asyncpg.exceptions.AdminShutdownError("shutdown"), RetryLater, None),
        (asyncpg.ConnectionDoesNotExistError("gone"), RetryLater, None),
        (ConnectionResetError(), RetryLater, None),
    ],
)
def test_each_kind_of_database_error_is_one_problem(
    exc: Exception, named: type, unnamed: type | None, wrap: bool
) -> None:
    error = wrapped(exc) if wrap else exc
    assert type(database_problem(error)) is named
    assert type(database_problem(error, name_constraints=False)) is (unnamed or named)


def test_what_the_caller_cannot_fix_says_so_and_a_retry_says_when() -> None:
    unstorable = database_problem(asyncpg.exceptions.NumericValueOutOfRangeError("too big"))
    assert unstorable is not None
    assert (unstorable.status_code, unstorable.detail) == (
        422,
        "A value in the request cannot be stored: too big",
    )
    retry = database_problem(asyncpg.exceptions.DeadlockDetectedError("deadlock"))
    assert retry is not None
    assert (retry.status_code, retry.headers) == (503, {"Retry-After": "1"})
    assert database_problem(ValueError("a bug")) is None


def test_a_batch_item_the_database_refused_is_answered_from_the_same_mapping() -> None:
    op = WriteOp(ReversalIn(transaction_id="00000000-0000-0000-0000-000000000001", reason="r"))
    check = failure_outcome(asyncpg.exceptions.CheckViolationError("violates check"), op)
    assert (check.status, check.body["type"]) == (422, problem_type("unstorable-value"))
    assert "violates check" in check.body["detail"]
    lost = failure_outcome(ConnectionResetError(), op)
    assert (lost.status, lost.body["type"]) == (503, problem_type("retry"))
    bug = failure_outcome(ValueError("a bug"), op)
    assert (bug.status, bug.body["type"]) == (500, problem_type("internal"))
