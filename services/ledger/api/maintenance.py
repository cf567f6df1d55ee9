"""Expiry runs and the audit of the whole ledger."""

from __future__ import annotations

from fastapi import APIRouter, Request

from services.ledger.schemas import AuditOut, ExpirationRunIn, ExpirationRunOut
from services.ledger.service import audit as service
from services.ledger.service import expirations
from shared.deps import Admin, Session
from shared.errors import Unprocessable, responses
from shared.json_body import JsonBodyRoute

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1", tags=["maintenance"])


@router.post("/expirations/run", responses=responses(Unprocessable))
async def run_expirations(body: ExpirationRunIn, request: Request, _: Admin) -> ExpirationRunOut:
    """Expire every lot past its date as of ``as_of``; a second run expires nothing more.

    Idempotent by nature, so it needs no Idempotency-Key; admin scope, as it moves every
    customer's credit.
    """
    return await expirations.run_expirations(
        request.app.state.session_factory, request.app.state.writer, body.as_of
    )


@router.get("/audit/verify", responses=responses())
async def verify(session: Session, _: Admin) -> AuditOut:
    """Recompute every hash, posting sum, chain head, balance and lot remainder; name the
    first break (admin scope: it reads the whole ledger)."""
    return await service.verify(session)
