"""What offers's routers take besides the unit of work: the caller's scope.

``Admin`` and ``Session`` are the same in every service (``shared.deps``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from shared.auth import Principal, require

Writer = Annotated[Principal, Depends(require("offers:write"))]
Reader = Annotated[Principal, Depends(require("offers:read"))]
Approver = Annotated[Principal, Depends(require("offers:approve"))]
