"""Recompute jobs as the API sees them: queued here, run by the worker."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.models import Job
from services.scoring.repository import jobs as repo
from services.scoring.schemas.jobs import JobOut, RecomputeIn
from shared.errors import NotFound, Unprocessable

# The oldest day a recompute may score as of: the first day a 400-day history shows.
MAX_BACKFILL_DAYS = 399


async def queue_recompute(
    session: AsyncSession, body: RecomputeIn, requested_by: str, today: date
) -> JobOut:
    """Queue a recompute of the named accounts (deduplicated), or of all accounts, as of
    today or of a past day."""
    if body.as_of is not None and not (
        today - timedelta(days=MAX_BACKFILL_DAYS) <= body.as_of <= today
    ):
        raise Unprocessable.for_field(
            "/as_of", f"as_of must be a day from {MAX_BACKFILL_DAYS} days ago up to today."
        )
    ids = list(dict.fromkeys(body.account_ids)) if body.account_ids else None
    job = await repo.add_job(
        session,
        Job(
            id=uuid.uuid4(),
            kind="recompute",
            account_ids=ids,
            as_of=body.as_of if body.as_of != today else None,
            status="queued",
            total=len(ids) if ids is not None else None,
            done=0,
            scored=0,
            changed=0,
            requested_by=requested_by,
        ),
    )
    await session.refresh(job)
    return JobOut.model_validate(job)


async def get_job(session: AsyncSession, job_id: uuid.UUID) -> JobOut:
    """One job's progress, or a 404."""
    job = await repo.get_job(session, job_id)
    if job is None:
        raise NotFound(f"No job {job_id}.")
    return JobOut.model_validate(job)
