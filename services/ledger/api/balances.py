"""Balances and lots of a customer's credit."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from services.ledger.api.deps import Reader
from services.ledger.schemas import BalancesOut, LotOut, Unit
from services.ledger.service import balances as service
from shared.deps import Session
from shared.errors import NotFound, Unprocessable, responses
from shared.json_body import JsonBodyRoute
from shared.pagination import Page, PageRequest, paginated
from shared.validation import Instant, PathId, QueryText

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1", tags=["balances"])
Position = tuple[datetime, uuid.UUID]  # (granted_at, id)


@router.get("/balances/{account_id}", responses=responses(NotFound, Unprocessable))
async def get_balances(
    account_id: PathId,
    session: Session,
    _: Reader,
    unit: Unit | None = None,
    as_of: Annotated[
        Instant | None, Query(description="A past time, with its UTC offset; now when absent")
    ] = None,
) -> BalancesOut:
    """A customer's credit per unit, now or as of any past time."""
    return BalancesOut(balances=await service.balances(session, account_id, unit, as_of))


@router.get("/lots", responses=responses())
async def list_lots(
    session: Session,
    _: Reader,
    page: Annotated[PageRequest[Position], Depends(paginated(Position))],
    account_id: QueryText | None = None,
    status: Literal["active", "used", "expired"] | None = None,
) -> Page[LotOut]:
    """Credit lots in grant order, by customer and status."""
    return await service.list_lots(session, page, account_id, status)
