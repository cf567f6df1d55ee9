"""Expiry runs and the audit of the whole ledger."""

from __future__ import annotations

from fastapi import APIRouter, Request

from services.ledger import service, writer
from services.ledger.api.deps import Reader, Writer
from services.ledger.schemas import AuditOut, ExpirationRunIn, ExpirationRunOut
from shared.deps import Session
from shared.errors import Unprocessable, responses

router = APIRouter(prefix="/v1", tags=["maintenance"])


@router.post("/expirations/run", responses=responses(Unprocessable))
async def run_expirations(body: ExpirationRunIn, request: Request, _: Writer) -> ExpirationRunOut:
    """Expire every lot past its date as of ``as_of``; a second run expires nothing more.

    Idempotent by nature, so it needs no Idempotency-Key.
    """
    now = writer.utc_now()
    as_of = body.as_of or now
    if as_of > now:
        raise Unprocessable.for_field("/as_of", "must not be in the future")
    return await writer.expire_due(
        request.app.state.session_factory, request.app.state.writer, as_of
    )


@router.get("/audit/verify", responses=responses())
async def verify(session: Session, _: Reader) -> AuditOut:
    """Recompute every hash, posting sum, balance and lot remainder; name the first break."""
    return await service.verify(session)
