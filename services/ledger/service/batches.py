"""Batches: up to 1,000 writes, each under its own key and atomic on its own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from pydantic import ValidationError

from services.ledger.domain.writes import Outcome, WriteOp, refused
from services.ledger.group_writer import GroupWriter
from services.ledger.schemas import (
    BATCH_ITEM,
    BatchGrant,
    BatchRedemption,
    GrantIn,
    RedemptionIn,
    ReversalIn,
)
from shared.auth import Principal
from shared.database_errors import database_problem
from shared.error_handlers import validation_field_errors
from shared.errors import FieldError, TenureError, Unprocessable, problem_body
from shared.logging import current_request_id

_log = structlog.get_logger("tenure.ledger.writer")


async def run_batch(
    writer: GroupWriter, principal: Principal, instance: str, items: Sequence[Any]
) -> dict[str, Any]:
    """Up to 1,000 writes, each idempotent under its own key and atomic on its own.

    Valid items are applied as one group (one database transaction; an item that fails it is
    retried alone, see ``apply_each``); an item that is not valid gets its own 422 result.
    Once anything may have been committed, every item's answer is in the list, whatever went
    wrong with the others: the answer (``BatchOut``, ready for JSON) has one result per item,
    in order, and is never replaced by one whole-request error.
    """
    results: dict[int, dict[str, Any]] = {}
    ops: list[tuple[int, WriteOp]] = []
    for index, raw in enumerate(items):
        try:
            item = BATCH_ITEM.validate_python(raw)
        except ValidationError as exc:
            failure = Unprocessable(
                "The item is not valid.", errors=_item_field_errors(index, raw, exc)
            )
            refused = Outcome(422, problem_body(failure, instance), failure)
            results[index] = _item_result(index, "", refused)
            continue
        body: GrantIn | RedemptionIn | ReversalIn = (
            item.grant
            if isinstance(item, BatchGrant)
            else item.redemption
            if isinstance(item, BatchRedemption)
            else item.reversal
        )
        op = WriteOp(
            body,
            principal.name,
            item.idempotency_key,
            instance,
            current_request_id(),
            principal.scopes,
        )
        ops.append((index, op))
    outcomes = await writer.apply([op for _, op in ops]) if ops else []
    for (index, op), outcome in zip(ops, outcomes, strict=True):
        done = failure_outcome(outcome, op) if isinstance(outcome, Exception) else outcome
        # A valid item names its operation, the member its body is under.
        results[index] = _item_result(index, str(items[index]["operation"]), done)
    return {"results": [results[i] for i in range(len(items))]}


def _item_result(index: int, operation: str, outcome: Outcome) -> dict[str, Any]:
    """One item's answer. A problem names what is wrong in the request that was sent: a
    field of the item's operation, or its key, as a pointer into the batch's body (the
    response kept under the key names them as a single request has them)."""
    body = outcome.body
    if outcome.status >= 400 and operation and isinstance(body, dict) and body.get("errors"):
        item = f"/items/{index}"
        body = {
            **body,
            "errors": [_in_batch(error, f"{item}/{operation}", item) for error in body["errors"]],
        }
    return {"index": index, "status": outcome.status, "body": body, "replayed": outcome.replayed}


def _in_batch(error: dict[str, Any], operation: str, item: str) -> dict[str, Any]:
    if error.get("parameter") == "Idempotency-Key":
        return {"detail": error["detail"], "pointer": f"{item}/idempotency_key"}
    if error.get("pointer") is not None:
        return {**error, "pointer": operation + error["pointer"]}
    return error


def _item_field_errors(index: int, raw: Any, exc: ValidationError) -> list[FieldError]:
    """Validation errors of one batch item, as pointers into the whole request body."""
    tag = raw.get("operation") if isinstance(raw, dict) else None
    located = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        if tag is not None and loc[:1] == (tag,):
            loc = loc[1:]  # the union's tag, not a place in the item
        located.append({**err, "loc": ("body", "items", index, *loc)})
    return validation_field_errors(located)


def failure_outcome(exc: Exception, op: WriteOp) -> Outcome:
    """The answer for an item that failed on its own (see ``apply_each``), as a problem.

    What the database refused is said as the HTTP safety net says it (``database_problem``),
    a constraint as an unstorable value: the rows are the ledger's, their columns are not
    the item's fields. Anything else is logged and is a 500 for that item alone.
    """
    error = database_problem(exc, name_constraints=False)
    if error is None:
        _log.error("write_failed", exc_info=exc, operation=op.operation)
        error = TenureError("An unexpected error occurred; quote the request id when reporting it.")
    return refused(error, op)
