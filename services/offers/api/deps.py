"""What offers's routers take besides the unit of work: the caller's scope.

``Admin`` and ``Session`` are the same in every service (``shared.deps``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from services.offers.domain.offers import APPROVE_SCOPE
from shared.auth import Principal, Requirement, require

Writer = Annotated[Principal, Depends(require("offers:write"))]
Reader = Annotated[Principal, Depends(require("offers:read"))]
# Whoever approves a program version to go live.
ProgramApprover = Annotated[Principal, Depends(require(APPROVE_SCOPE))]
# Whoever approves or rejects an offer: any known key, spending the approvals' allowance.
# Which approve scope it needs depends on the offer's open slots, so the service refuses
# with the reason (approval-forbidden, from ``domain.offers.slot_for``), not a bare scope.
OfferApprover = Annotated[Principal, Depends(Requirement(APPROVE_SCOPE, enforced=False))]
