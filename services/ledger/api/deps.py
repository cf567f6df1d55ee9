"""The ledger's scopes (``Reader``, ``Writer``) and the Idempotency-Key every write takes.

``Admin`` and ``Session`` are ``shared.deps``'s.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from shared.auth import Principal, require

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
