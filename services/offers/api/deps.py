"""What offers's routers take besides the unit of work: the caller's scope.

``Admin`` and ``Session`` are the same in every service (``shared.deps``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.offers.domain.offers import APPROVE_SCOPE
from shared.auth import Principal, admit, require
from shared.ratelimit import EXEMPT_PRINCIPALS, RateLimiter

Writer = Annotated[Principal, Depends(require("offers:write"))]
Reader = Annotated[Principal, Depends(require("offers:read"))]


async def _caller(request: Request) -> Principal:
    # Any known key: which approve scope it needs depends on the offer's open slots, so the
    # service refuses with the reason (approval-forbidden), not a bare missing scope.
    principal = await admit(request, ())
    if principal.name not in EXEMPT_PRINCIPALS:
        # Admitted without a scope, so admit took no allowance: approvals spend their own.
        limiter: RateLimiter = request.app.state.rate_limiter
        limiter.take(str(principal.key_id), APPROVE_SCOPE)
    return principal


# Whoever approves or rejects an offer (``domain.offers.slot_for`` says whether they may).
Approver = Annotated[Principal, Depends(_caller)]
