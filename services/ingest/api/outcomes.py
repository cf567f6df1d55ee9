"""Renewal outcomes, derived from account history (what offers and scoring read)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from services.ingest.api.deps import Reader
from services.ingest.schemas.history import OutcomesQuery
from services.ingest.service import outcomes as service
from shared.contracts import Outcome
from shared.deps import Session
from shared.errors import BadRequest, Unprocessable, responses
from shared.json_body import JsonBodyRoute
from shared.pagination import Page

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1/outcomes", tags=["outcomes"])


@router.post("/query", responses=responses(BadRequest, Unprocessable))
async def query_outcomes(
    body: OutcomesQuery, session: Session, _: Reader, request: Request
) -> Page[Outcome]:
    """Renewal outcomes of named accounts, or of every account with a renewal date in a
    range, in (account, renewal date) order; ``after`` is a previous page's ``next_cursor``."""
    return await service.query_outcomes(session, body, request.app.state.cursor_signer)
