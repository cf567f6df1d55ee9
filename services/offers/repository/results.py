"""What a program's results read of offers' own tables: the first decision of each kind that
put an account in a group (treated: offered; held out: holdout)."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.offers.domain.results import DecisionKind, FirstDecision
from services.offers.models import Decision


async def first_decisions(
    session: AsyncSession, program_id: str, before: datetime
) -> list[FirstDecision]:
    """Per account, the time of the program's first ``offered`` and first ``holdout``
    decision made before ``before`` (both kinds are kept for good: retention forgets only
    decisions that offered nothing to anyone)."""
    rows = await session.execute(
        select(Decision.account_id, Decision.outcome, func.min(Decision.decided_at))
        .where(
            Decision.program_id == program_id,
            Decision.outcome.in_(("offered", "holdout")),
            Decision.decided_at < before,
        )
        .group_by(Decision.account_id, Decision.outcome)
        .order_by(Decision.account_id, Decision.outcome)
    )
    return [
        FirstDecision(account_id, cast(DecisionKind, outcome), decided_at)
        for account_id, outcome, decided_at in rows
    ]
