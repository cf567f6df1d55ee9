"""What every ledger write endpoint takes: the caller and an Idempotency-Key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.responses import Response

from services.ledger.domain.writes import WriteOp
from services.ledger.group_writer import GroupWriter
from shared.auth import Principal, require
from shared.errors import json_response
from shared.logging import current_request_id

Writer = Annotated[Principal, Depends(require("ledger:write"))]
Reader = Annotated[Principal, Depends(require("ledger:read"))]
Admin = Annotated[Principal, Depends(require("admin"))]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Repeats of a request with the same key return the first response",
    ),
]


async def write(request: Request, principal: Principal, key: str, body: WriteOp.Body) -> Response:
    """Apply one write once per key and answer with its (kept) response; a response sent
    again for a repeat of the key says so in ``Idempotent-Replayed: true``."""
    writer: GroupWriter = request.app.state.writer
    op = WriteOp(
        body, principal.name, key, request.url.path, current_request_id(), principal.scopes
    )
    outcome = await writer.submit(op)
    if outcome.refusal is not None:
        raise outcome.refusal
    response = json_response(outcome.status, outcome.body)
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"  # as Stripe's API says it
    return response
