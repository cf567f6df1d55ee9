"""The book by segment, tier and colour."""

from __future__ import annotations

from fastapi import APIRouter

from services.scoring.api.deps import Reader
from services.scoring.schemas.scores import SegmentSummary
from services.scoring.service import scores as service
from shared.deps import Session
from shared.errors import responses
from shared.json_body import JsonBodyRoute

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1/segments", tags=["segments"])


@router.get("/summary", responses=responses())
async def summary(session: Session, _: Reader) -> SegmentSummary:
    """Accounts and MRR (by currency) by segment, by tier and by colour in force."""
    return await service.summary(session)
