"""Reading decisions, and forgetting the old ones that offered nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.offers.domain.decisions import OUTCOMES, DecisionOutcome
from services.offers.repository import decisions as repo
from services.offers.schemas.decisions import DecisionOut
from shared.db import unit_of_work
from shared.errors import check_range
from shared.pagination import Page, PageRequest

Position = tuple[int]  # (decision id,), newest first
# Offers and holdouts are the record of what a program did and whom it left out (the
# results compare the two): they are kept. The rest may go after the retention period.
FORGETTABLE: tuple[DecisionOutcome, ...] = tuple(
    o for o in OUTCOMES if o not in ("offered", "holdout")
)
_FORGET_BATCH = 10_000


@dataclass(frozen=True)
class DecisionFilter:
    """What a decision list is narrowed to."""

    account_id: str | None = None
    program_id: str | None = None
    outcome: DecisionOutcome | None = None
    since: datetime | None = None
    until: datetime | None = None


async def list_decisions(
    session: AsyncSession, page: PageRequest[Position], where: DecisionFilter
) -> Page[DecisionOut]:
    """Decisions newest first."""
    check_range(where.since, where.until)
    rows = await repo.list_decisions(
        session,
        account_id=where.account_id,
        program_id=where.program_id,
        outcome=where.outcome,
        since=where.since,
        until=where.until,
        before_id=page.after[0] if page.after else None,
        limit=page.limit + 1,
    )
    return page.page(rows, DecisionOut.model_validate, lambda r: (r.id,))


async def forget_old(
    factory: async_sessionmaker[AsyncSession], retention_days: int, now: datetime
) -> int:
    """Delete decisions that offered nothing older than the retention, in batches of their
    own transactions; returns how many went."""
    cutoff = now - timedelta(days=retention_days)
    total = 0
    while True:
        async with unit_of_work(factory) as session:
            gone = await repo.forget(
                session, outcomes=FORGETTABLE, decided_before=cutoff, limit=_FORGET_BATCH
            )
        total += gone
        if gone < _FORGET_BATCH:
            return total
