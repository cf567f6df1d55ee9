"""Scoring a batch of accounts: read what is stored, apply the pure rules, write snapshots,
history and the ``snapshot.changed`` messages in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.domain.overrides import with_override
from services.scoring.domain.snapshot import build_snapshot, changes
from services.scoring.models import Outbox
from services.scoring.repository import overrides as overrides_repo
from services.scoring.repository import snapshots as snapshots_repo
from services.scoring.service import scorecards as scorecards_service
from shared.contracts import SNAPSHOT_CHANGED, AccountWindows, Snapshot, SnapshotChanged
from shared.outbox import enqueue_many

# Scores are written by one transaction at a time across all scoring processes, so that the
# snapshot a batch compares against is the latest (two batches never both announce a change).
_WRITER_LOCK = 0x73636F72  # "scor"
# Trend needs the score on or before 30 days ago; history rows may have gaps.
_HISTORY_DAYS = 60


@dataclass(frozen=True)
class BatchResult:
    """What a batch did: accounts scored, and snapshots changed in a way offers hears of."""

    scored: int
    changed: int


async def lock_writer(session: AsyncSession) -> None:
    """Become the one scoring writer until this transaction ends."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _WRITER_LOCK})


async def score_windows(
    session: AsyncSession, windows: Sequence[AccountWindows], *, read_at: datetime
) -> BatchResult:
    """Score accounts from the aggregates ingest gave at ``read_at``: their snapshots, the
    day's history rows and the messages for offers.

    An account ingest does not know is skipped; so is one whose stored snapshot was computed
    from a later read (another batch got there with fresher signals).
    """
    await lock_writer(session)
    known = [w for w in windows if w.account is not None]
    previous = await snapshots_repo.snapshots_by_id(session, [w.account_id for w in known])
    fresher = [
        w
        for w in known
        if w.account_id not in previous or previous[w.account_id].computed_at <= read_at
    ]
    snapshots = await _compute(session, fresher, previous, read_at)
    return await _store(session, snapshots, previous)


async def score_history_only(
    session: AsyncSession, windows: Sequence[AccountWindows], *, read_at: datetime
) -> BatchResult:
    """Score accounts as of a past day (``windows``' ``as_of``) to fill in their history:
    only that day's history rows are written; snapshots and offers are left alone."""
    await lock_writer(session)
    # An account whose contract had not started by that day had no score then.
    known = [
        w
        for w in windows
        if w.account is not None
        and (w.account.contract_start is None or w.account.contract_start <= w.as_of)
    ]
    previous = await snapshots_repo.snapshots_by_id(session, [w.account_id for w in known])
    snapshots = await _compute(session, known, previous, read_at)
    await snapshots_repo.write_history(session, snapshots)
    return BatchResult(scored=len(snapshots), changed=0)


async def _compute(
    session: AsyncSession,
    windows: Sequence[AccountWindows],
    previous: dict[str, Snapshot],
    read_at: datetime,
) -> list[Snapshot]:
    """The snapshots of these (known) accounts, from what is stored beside the windows."""
    if not windows:
        return []
    ids = [w.account_id for w in windows]
    as_of = windows[0].as_of
    past = await snapshots_repo.past_scores(
        session, ids, as_of - timedelta(days=_HISTORY_DAYS), as_of
    )
    cards = await scorecards_service.scorecards_in_force(session)
    cuts = await scorecards_service.cuts_in_force(session)
    overrides = await overrides_repo.overrides_in_force(session, ids, read_at)
    snapshots: list[Snapshot] = []
    for w in windows:
        assert w.account is not None
        before = previous.get(w.account_id)
        snapshot = build_snapshot(
            w,
            cards[w.account.motion_segment],
            cuts,
            previous_milestones=before.milestones if before else {},
            history=past.get(w.account_id, {}),
            override=overrides.get(w.account_id),
            now=read_at,
        )
        if snapshot is not None:
            snapshots.append(snapshot)
    return snapshots


async def reapply_overrides(
    session: AsyncSession, account_ids: Sequence[str], now: datetime
) -> BatchResult:
    """Restate stored snapshots with the overrides in force now (one set or lapsed), without
    reading ingest: only the colour in force can change."""
    await lock_writer(session)
    previous = await snapshots_repo.snapshots_by_id(session, account_ids)
    overrides = await overrides_repo.overrides_in_force(session, list(previous), now)
    snapshots = []
    for account_id, before in previous.items():
        snapshots.append(with_override(before, overrides.get(account_id), now))
    return await _store(session, snapshots, previous)


async def _store(
    session: AsyncSession, snapshots: Sequence[Snapshot], previous: dict[str, Snapshot]
) -> BatchResult:
    messages = []
    for snapshot in snapshots:
        changed = changes(previous.get(snapshot.account_id), snapshot)
        if changed:
            message = SnapshotChanged(snapshot=snapshot, changes=changed)
            messages.append(message.model_dump(mode="json"))
    await snapshots_repo.write_snapshots(session, snapshots)
    await snapshots_repo.write_history(session, snapshots)
    await enqueue_many(session, Outbox, "offers", SNAPSHOT_CHANGED, messages)
    return BatchResult(scored=len(snapshots), changed=len(messages))
