"""Recompute jobs: queued by the API and the daily schedule, claimed and advanced by workers."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.models import Job


async def add_job(session: AsyncSession, job: Job) -> Job:
    """Queue a job."""
    session.add(job)
    await session.flush()
    return job


async def schedule_daily(session: AsyncSession, day: date) -> bool:
    """Queue the day's full recompute unless some process already has; True when queued."""
    result = await session.execute(
        insert(Job)
        .values(
            id=uuid.uuid4(), kind="daily", status="queued", scheduled_for=day, requested_by="daily"
        )
        .on_conflict_do_nothing()
        .returning(Job.id)
    )
    return result.scalar_one_or_none() is not None


async def get_job(session: AsyncSession, job_id: uuid.UUID) -> Job | None:
    """One job."""
    return await session.get(Job, job_id)


async def claim_job(session: AsyncSession, now: datetime, stale_after: timedelta) -> Job | None:
    """The oldest job waiting, or running without a heartbeat for too long (its worker died),
    locked for this transaction; other workers skip it."""
    return await session.scalar(
        select(Job)
        .where(
            Job.finished_at.is_(None),
            or_(Job.status == "queued", Job.heartbeat_at < now - stale_after),
        )
        .order_by(Job.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


async def lock_job(session: AsyncSession, job_id: uuid.UUID) -> Job | None:
    """A job locked for this transaction, to advance it."""
    return await session.scalar(select(Job).where(Job.id == job_id).with_for_update())
