"""Signals for scoring: account facts plus daily rollups, many accounts per call."""

from __future__ import annotations

from fastapi import APIRouter

from services.ingest.api.deps import Reader
from services.ingest.schemas.signals import SignalsQuery, SignalsResponse
from services.ingest.service import signals as service
from shared.deps import Session
from shared.errors import Unprocessable, responses

router = APIRouter(prefix="/v1/signals", tags=["signals"])


@router.post("/query", responses=responses(Unprocessable))
async def query_signals(body: SignalsQuery, session: Session, _: Reader) -> SignalsResponse:
    """Up to 1,000 accounts, each with its facts and the rollups of its last N days."""
    return await service.query_signals(session, body)
