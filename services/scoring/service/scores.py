"""Reading scores: one account's snapshot, lists by filter, history, and the summary."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.domain.overrides import with_override
from services.scoring.repository import snapshots as repo
from services.scoring.repository.snapshots import ScoreFilters
from services.scoring.schemas.scores import (
    GroupTotal,
    HistoryPoint,
    ScoreHistoryOut,
    SegmentSummary,
)
from shared.contracts import Snapshot
from shared.errors import NotScored
from shared.pagination import Page, PageRequest


async def get_score(session: AsyncSession, account_id: str, now: datetime) -> Snapshot:
    """An account's snapshot, with the colour in force right now."""
    snapshot = await repo.snapshot_document(session, account_id)
    if snapshot is None:
        raise NotScored(f"Account {account_id!r} has no score yet.")
    # An override that expired a moment ago shows as lapsed before the worker restates it.
    return with_override(snapshot, snapshot.override, now)


Position = tuple[str]  # (account_id,)


async def list_scores(
    session: AsyncSession, filters: ScoreFilters, page: PageRequest[Position]
) -> Page[Snapshot]:
    """Snapshots matching the filters, by account id."""
    rows = await repo.list_snapshots(
        session, filters, after=page.after[0] if page.after else None, limit=page.limit + 1
    )
    return page.page(rows, lambda s: s, lambda s: (s.account_id,))


async def score_history(
    session: AsyncSession, account_id: str, days: int, now: datetime
) -> ScoreHistoryOut:
    """An account's daily scores over the last ``days`` days."""
    if await repo.snapshot_document(session, account_id) is None:
        raise NotScored(f"Account {account_id!r} has no score yet.")
    rows = await repo.history(session, account_id, now.date() - timedelta(days=days - 1))
    return ScoreHistoryOut(
        account_id=account_id,
        days=days,
        points=[HistoryPoint.model_validate(r) for r in rows],
    )


async def summary(session: AsyncSession) -> SegmentSummary:
    """Accounts and MRR by segment, tier and colour in force."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    mrr: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    accounts = 0
    for segment, tier, colour, currency, n, total in await repo.summary(session):
        accounts += n
        for key in (("segment", segment), ("tier", tier), ("colour", colour or "unscored")):
            counts[key] += n
            mrr[key][currency] += total

    def by(kind: str) -> dict[str, GroupTotal]:
        return {
            name: GroupTotal(accounts=counts[(k, name)], mrr_minor=dict(mrr[(k, name)]))
            for k, name in sorted(counts)
            if k == kind
        }

    return SegmentSummary(
        accounts=accounts, by_segment=by("segment"), by_tier=by("tier"), by_colour=by("colour")
    )
