"""Scoring's worker: rescoring what ingest said changed, running recompute jobs, scheduling
the daily full recompute and lapsing overrides. One per process; the writer lock in
``recompute`` keeps several processes' writes one at a time.

Every step is a batch in its own transaction, so a crash loses at most the batch in flight,
which is simply done again: the queue of changes and a job's progress commit with the
snapshots they produced.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.scoring.models import Job
from services.scoring.repository import changes as changes_repo
from services.scoring.repository import jobs as jobs_repo
from services.scoring.repository import snapshots as snapshots_repo
from services.scoring.service import scorecards as scorecards_service
from services.scoring.service.recompute import (
    reapply_overrides,
    score_history_only,
    score_windows,
)
from services.scoring.service.signals import IngestUnavailable, read_windows
from services.scoring.settings import ScoringSettings
from shared.contracts import WindowsPage
from shared.db import unit_of_work
from shared.http import ServiceClient

_log = structlog.get_logger("tenure.scoring.worker")
_MAX_BACKOFF = 30.0


# A page of a job: (job, accounts done before it, the id a walk resumes after).
_PageKey = tuple[uuid.UUID, int, str | None]


async def _discard(read: asyncio.Future[WindowsPage]) -> None:
    """Drop a page read ahead that is not wanted (its failure included)."""
    read.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await read


def utcnow() -> datetime:
    """The time now, in UTC."""
    return datetime.now(UTC)


@dataclass
class Worker:
    """The background loop of one scoring process."""

    factory: async_sessionmaker[AsyncSession]
    ingest: ServiceClient
    settings: ScoringSettings
    clock: Callable[[], datetime] = utcnow
    _scheduled: date | None = None
    _backoff: float = 0.0
    # The job this worker is running, continued batch after batch.
    _job: uuid.UUID | None = None
    # The job's next page, being read while the current one is scored.
    _ahead: tuple[_PageKey, datetime, asyncio.Future[WindowsPage]] | None = None
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    def start(self) -> None:
        """Run in the background until ``stop``."""
        self._task = asyncio.create_task(self._run(), name="scoring-worker")

    async def stop(self) -> None:
        """Stop after the step in flight (a batch cut short rolls back, to be redone)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._ahead is not None:
            await _discard(self._ahead[2])
            self._ahead = None

    async def _run(self) -> None:
        while True:
            try:
                busy = await self.step()
                self._backoff = 0.0
            except IngestUnavailable as exc:
                _log.warning("ingest_unavailable", error=str(exc), retry_in=self._longer_wait())
                await asyncio.sleep(self._backoff)
                continue
            except Exception:
                _log.exception("scoring_step_failed", retry_in=self._longer_wait())
                await asyncio.sleep(self._backoff)
                continue
            if not busy:
                await asyncio.sleep(self.settings.worker_poll_seconds)

    def _longer_wait(self) -> float:
        """Double the wait after a failed step (from 0.5 s, up to 30 s); the new wait."""
        self._backoff = min(_MAX_BACKOFF, max(0.5, self._backoff * 2))
        return self._backoff

    async def step(self) -> bool:
        """Do one batch of whatever is waiting; False when nothing was."""
        now = self.clock()
        await self._schedule_daily(now)
        lapsed = await self.lapse_overrides(now)
        advanced = await self.advance_job(now)
        drained = await self.drain_changes(now)
        return lapsed or advanced or drained

    async def _schedule_daily(self, now: datetime) -> None:
        at = self.settings.daily_recompute_at
        if at is None or self._scheduled == now.date() or now.time() < at:
            return
        async with unit_of_work(self.factory) as session:
            if await jobs_repo.schedule_daily(session, now.date()):
                _log.info("daily_recompute_queued", day=now.date().isoformat())
        self._scheduled = now.date()

    async def lapse_overrides(self, now: datetime) -> bool:
        """Restate the snapshots whose override has expired by ``now``; False when none had."""
        async with unit_of_work(self.factory) as session:
            ids = await snapshots_repo.lapsed_overrides(
                session, now, self.settings.recompute_batch_size
            )
            if ids:
                await reapply_overrides(session, ids, now)
        return bool(ids)

    async def drain_changes(self, now: datetime) -> bool:
        """Rescore the accounts ingest said changed, longest waiting first, one batch."""
        async with unit_of_work(self.factory) as session:
            pending = await changes_repo.oldest_changes(session, self.settings.recompute_batch_size)
        if not pending:
            return False
        seen = [(c.account_id, c.last_changed_at) for c in pending]
        page = await read_windows(
            self.ingest, now.date(), account_ids=[c.account_id for c in pending]
        )
        async with unit_of_work(self.factory) as session:
            result = await score_windows(session, page.accounts, read_at=now)
            await changes_repo.forget_changes(session, seen)
        _log.info(
            "changes_scored", accounts=len(seen), scored=result.scored, changed=result.changed
        )
        return True

    async def advance_job(self, now: datetime) -> bool:
        """Run one batch of the oldest open job (taking over one whose worker went quiet)."""
        stale = timedelta(seconds=self.settings.job_stale_seconds)
        async with unit_of_work(self.factory) as session:
            job = None
            if self._job is not None:
                job = await jobs_repo.lock_job(session, self._job)
                if job is not None and job.finished_at is not None:
                    job = None
            if job is None:
                job = await jobs_repo.claim_job(session, now, stale)
            self._job = None if job is None else job.id
            if job is None:
                return False
            if job.status == "queued":
                job.status, job.started_at = "running", now
            job.heartbeat_at = now
            snapshot = (job.id, job.account_ids, job.done, job.resume_after, job.as_of)
        job_id, account_ids, done, resume_after, as_of = snapshot
        day = as_of or now.date()
        size = self.settings.recompute_batch_size

        def fetch(done: int, after: str | None) -> Awaitable[WindowsPage]:
            if account_ids is not None:
                batch = account_ids[done : done + size]
                return read_windows(self.ingest, day, account_ids=batch)
            return read_windows(self.ingest, day, after=after, limit=size)

        try:
            page, read_at = await self._page((job_id, done, resume_after), fetch, now)
        except IngestUnavailable as exc:
            async with unit_of_work(self.factory) as session:
                locked = await jobs_repo.lock_job(session, job_id)
                if locked is not None:
                    locked.last_error = str(exc)[:2000]
            raise
        if account_ids is not None:
            finished = done + size >= len(account_ids)
            position = None
        else:
            finished = page.next_after is None
            position = page.next_after
        if not finished:
            # Read the next page while this one is scored and written: ingest and scoring
            # then work at once, not in turn.
            following = (job_id, done + len(page.accounts), position)
            self._read_ahead(following, fetch(following[1], position))
        async with unit_of_work(self.factory) as session:
            if as_of is None:
                result = await score_windows(session, page.accounts, read_at=read_at)
            else:
                result = await score_history_only(session, page.accounts, read_at=read_at)
            locked = await jobs_repo.lock_job(session, job_id)
            if locked is None or locked.done != done or locked.finished_at is not None:
                # Another worker advanced it meanwhile: its progress stands; this batch's
                # snapshots are no worse for being written twice.
                return True
            self._advance(locked, len(page.accounts), result.scored, result.changed, position)
            if finished:
                await self._finish(session, locked, now)
        return True

    async def _page(
        self,
        key: _PageKey,
        fetch: Callable[[int, str | None], Awaitable[WindowsPage]],
        now: datetime,
    ) -> tuple[WindowsPage, datetime]:
        """The page ``key`` names, and when it was read: the one read ahead if it is that
        page, else read now."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead_key, read_at, task = ahead
            if ahead_key == key:
                return await task, read_at
            await _discard(task)
        return await fetch(key[1], key[2]), now

    def _read_ahead(self, key: _PageKey, read: Awaitable[WindowsPage]) -> None:
        self._ahead = (key, self.clock(), asyncio.ensure_future(read))

    @staticmethod
    def _advance(job: Job, done: int, scored: int, changed: int, position: str | None) -> None:
        job.done += done
        job.scored += scored
        job.changed += changed
        job.resume_after = position
        job.last_error = None

    async def _finish(self, session: AsyncSession, job: Job, now: datetime) -> None:
        job.status, job.finished_at = "succeeded", now
        job.total = job.done
        if job.account_ids is None and job.as_of is None:
            had_cuts = (await scorecards_service.cuts_in_force(session)).frequency is not None
            await scorecards_service.refresh_cuts(session)
            if not had_cuts:
                # The first full recompute placed everyone in the middle quintile (there was
                # no population yet): once more, against the population it just scored.
                await jobs_repo.add_job(
                    session,
                    Job(
                        kind="recompute",
                        status="queued",
                        requested_by="rfm-cuts",
                        done=0,
                        scored=0,
                        changed=0,
                    ),
                )
        _log.info("job_finished", job_id=str(job.id), accounts=job.done, changed=job.changed)
