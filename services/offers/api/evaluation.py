"""Evaluate now: every live program for some accounts, or for every account."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request

from services.offers.api.deps import Writer
from services.offers.schemas.decisions import EvaluateIn, EvaluationOut
from services.offers.service import evaluation as service
from shared.errors import Unprocessable, responses
from shared.json_body import JsonBodyRoute

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1/evaluate", tags=["decisions"])


@router.post("", responses=responses(Unprocessable))
async def evaluate(body: EvaluateIn, request: Request, principal: Writer) -> EvaluationOut:
    """Decide every live program for the accounts' kept snapshots now (all accounts when
    ``account_ids`` is absent, a page of 1,000 per transaction). The caller is the offers'
    proposer."""
    return await service.evaluate(
        request.app.state.session_factory, body.account_ids, principal.name, datetime.now(UTC)
    )
