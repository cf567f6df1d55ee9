"""Signals for scoring: account facts plus daily rollups or window aggregates, many accounts
per call."""

from __future__ import annotations

from fastapi import APIRouter

from services.ingest.api.deps import Reader
from services.ingest.schemas.signals import SignalsQuery, SignalsResponse
from services.ingest.service import signals as service
from services.ingest.service import windows as windows_service
from shared.contracts import WindowsPage, WindowsQuery
from shared.deps import Session
from shared.errors import Unprocessable, responses
from shared.json_body import JsonBodyRoute

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1/signals", tags=["signals"])


@router.post("/query", responses=responses(Unprocessable))
async def query_signals(body: SignalsQuery, session: Session, _: Reader) -> SignalsResponse:
    """Up to 1,000 accounts, each with its facts and the rollups of its last N days."""
    return await service.query_signals(session, body)


@router.post("/windows", responses=responses(Unprocessable))
async def signal_windows(body: WindowsQuery, session: Session, _: Reader) -> WindowsPage:
    """Window aggregates as of a UTC day (7/30/60-day sums, distinct users and features,
    weekly active users, first and last days seen, ...) for named accounts, or for all
    accounts a page at a time: what scoring reads."""
    return await windows_service.signal_windows(session, body)
