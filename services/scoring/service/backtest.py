"""A scorecard's back-test: what the scores said 90 days before renewals that have passed."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.domain.backtest import LEAD_DAYS, Case, backtest, scored_on_or_before
from services.scoring.repository import snapshots as repo
from services.scoring.schemas.scorecards import BacktestOut, ColourChurn
from services.scoring.service.signals import read_outcomes
from shared.contracts import MotionSegment
from shared.http import ServiceClient

# How far back renewals are looked for.
HORIZON_DAYS = 730


async def run_backtest(
    session: AsyncSession, ingest: ServiceClient, motion: MotionSegment, today: date
) -> BacktestOut:
    """Churn by colour and the AUC of the score 90 days ahead, over the motion's accounts'
    renewals of the last two years (outcomes from ingest's account history)."""
    first = today - timedelta(days=HORIZON_DAYS)
    # Only the motion's accounts are asked about: ingest works out each one's outcomes.
    in_motion = await repo.accounts_in_motion(session, motion)
    found_outcomes = await read_outcomes(ingest, first, today - timedelta(days=1), in_motion)
    outcomes = [o for o in found_outcomes if o.final]
    found = await repo.scores_between(
        session, [(o.account_id, *scored_on_or_before(o.renewal_date)) for o in outcomes]
    )
    cases = [
        Case(
            o.account_id,
            o.renewal_date,
            o.outcome,
            score[0] if score else None,
            score[1] if score else None,  # type: ignore[arg-type]
        )
        for o, score in zip(outcomes, found, strict=True)
    ]
    result = backtest(cases)
    return BacktestOut(
        motion=motion,
        renewals_from=first,
        renewals_to=today - timedelta(days=1),
        lead_days=LEAD_DAYS,
        renewals=result.renewals,
        unscored=result.unscored,
        churned=result.churned,
        stayed=result.stayed,
        by_colour={
            colour: ColourChurn(
                renewals=group.renewals, churned=group.churned, churn_rate=group.churn_rate
            )
            for colour, group in result.by_colour.items()
        },
        auc=result.auc,
        verdict=result.verdict,
    )
