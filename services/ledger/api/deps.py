"""What every ledger write endpoint takes: the caller and an Idempotency-Key."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import Response

from services.ledger import service
from shared.auth import Principal, require
from shared.errors import stored_response

Writer = Annotated[Principal, Depends(require("ledger:write"))]
Reader = Annotated[Principal, Depends(require("ledger:read"))]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Repeats of a request with the same key return the first response",
    ),
]


async def idempotent(
    request: Request,
    principal: Principal,
    key: str,
    operation: str,
    body: Any,
    work: service.Work,
) -> Response:
    """Run a write once per key and answer with its (stored) response."""
    status, result = await service.run_idempotent(
        request.app.state.session_factory,
        principal=principal.name,
        key=key,
        operation=operation,
        body=body,
        instance=request.url.path,
        work=work,
    )
    return stored_response(status, result)
