"""Support tickets and NPS/CSAT survey responses."""

from __future__ import annotations

from fastapi import APIRouter, Response

from services.ingest.api.deps import Writer
from services.ingest.schemas.support import SurveyIn, SurveyOut, TicketIn, TicketOut
from services.ingest.service import support as service
from shared.deps import Session
from shared.errors import UnknownAccount, Unprocessable, responses
from shared.json_body import JsonBodyRoute

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1", tags=["support and sentiment"])


@router.post("/tickets", responses=responses(Unprocessable, UnknownAccount))
async def post_ticket(body: TicketIn, session: Session, _: Writer) -> TicketOut:
    """Report a ticket opened or closed; repeats and out-of-date reports change nothing."""
    return await service.record_ticket(session, body)


@router.post("/surveys", status_code=201, responses=responses(Unprocessable, UnknownAccount))
async def post_survey(body: SurveyIn, session: Session, _: Writer, response: Response) -> SurveyOut:
    """Record an NPS or CSAT response (201); the same id again is a 200 duplicate."""
    result = await service.record_survey(session, body)
    if result.duplicate:
        response.status_code = 200
    return result
