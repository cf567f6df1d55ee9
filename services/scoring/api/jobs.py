"""Recompute jobs: some or all accounts, run in batches by the worker."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, status

from services.scoring.api.deps import Reader, Writer
from services.scoring.schemas.jobs import JobOut, RecomputeIn
from services.scoring.service import jobs as service
from shared.deps import Session
from shared.errors import NotFound, Unprocessable, responses
from shared.json_body import JsonBodyRoute

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1", tags=["jobs"])


@router.post("/recompute", status_code=status.HTTP_202_ACCEPTED, responses=responses(Unprocessable))
async def recompute(body: RecomputeIn, session: Session, principal: Writer) -> JobOut:
    """Queue a recompute of the named accounts, or of all of them (as of today, or of a past
    day to fill in history); follow it at ``/v1/jobs/{id}``."""
    return await service.queue_recompute(session, body, principal.name, datetime.now(UTC).date())


@router.get("/jobs/{job_id}", responses=responses(NotFound, Unprocessable))
async def get_job(job_id: uuid.UUID, session: Session, _: Reader) -> JobOut:
    """A recompute's progress."""
    return await service.get_job(session, job_id)
