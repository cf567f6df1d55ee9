"""Scorecards: one per motion segment, versioned, previewed before they are saved."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from services.scoring.api.deps import IngestClient, Reader, Writer
from services.scoring.schemas.scorecards import (
    BacktestOut,
    MeasureOut,
    PreviewOut,
    ScorecardIn,
    ScorecardOut,
)
from services.scoring.service import backtest as backtest_service
from services.scoring.service import scorecards as service
from shared.contracts import MotionSegment
from shared.deps import Session
from shared.errors import DependencyUnavailable, InvalidScorecard, Unprocessable, responses
from shared.json_body import JsonBodyRoute

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1/scorecards", tags=["scorecards"])


@router.get("", responses=responses())
async def list_scorecards(session: Session, _: Reader) -> list[ScorecardOut]:
    """The scorecard in force for each motion segment."""
    return await service.list_scorecards(session)


@router.get("/measures", responses=responses())
async def list_measures(_: Reader) -> list[MeasureOut]:
    """The measures a scorecard weighs, with their units and which way is better."""
    return service.measures()


@router.get("/{motion}", responses=responses(Unprocessable))
async def get_scorecard(motion: MotionSegment, session: Session, _: Reader) -> ScorecardOut:
    """The scorecard in force for one motion segment."""
    return await service.get_scorecard(session, motion)


@router.put("/{motion}", responses=responses(InvalidScorecard, Unprocessable))
async def put_scorecard(
    motion: MotionSegment, body: ScorecardIn, session: Session, principal: Writer
) -> ScorecardOut:
    """Save a new version (weights summing to 100, monotonic thresholds); snapshots record
    the version that scored them, from the next recompute on."""
    return await service.put_scorecard(session, motion, body, principal.name)


@router.get("/{motion}/versions", responses=responses(Unprocessable))
async def list_versions(motion: MotionSegment, session: Session, _: Reader) -> list[ScorecardOut]:
    """Every version of a motion's scorecard, newest first."""
    return await service.versions(session, motion)


@router.get("/{motion}/backtest", responses=responses(DependencyUnavailable, Unprocessable))
async def backtest(
    motion: MotionSegment, session: Session, ingest: IngestClient, _: Reader
) -> BacktestOut:
    """How well the motion's scores foretold what happened at renewals that have passed:
    churn rate by colour 90 days before, and the AUC of the score (0.5: no better than chance)."""
    return await backtest_service.run_backtest(session, ingest, motion, datetime.now(UTC).date())


@router.post("/{motion}/preview", responses=responses(InvalidScorecard, Unprocessable))
async def preview(
    motion: MotionSegment, body: ScorecardIn, session: Session, _: Reader
) -> PreviewOut:
    """How a proposed scorecard would move the colour distribution of the motion's accounts
    (re-scoring their stored measures); nothing is saved."""
    return await service.preview(session, motion, body)
