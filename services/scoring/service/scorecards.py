"""Scorecards: the defaults, versions, a preview of a proposed version, and the cuts in force."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.domain.health import score_health
from services.scoring.domain.measures import MEASURES
from services.scoring.domain.rfm import RfmBreakpoints, breakpoints
from services.scoring.domain.scorecards import DEFAULT_SCORECARDS, Scorecard, validate_scorecard
from services.scoring.models import Scorecard as ScorecardRow
from services.scoring.repository import scorecards as repo
from services.scoring.repository import snapshots as snapshots_repo
from services.scoring.schemas.scorecards import (
    ColourCounts,
    MeasureOut,
    PreviewOut,
    ScorecardIn,
    ScorecardOut,
)
from shared.contracts import MotionSegment, Snapshot
from shared.errors import FieldError, InvalidScorecard


def _document(card: Scorecard) -> tuple[dict[str, Any], dict[str, Any]]:
    return dict(card.weights), {m: [list(p) for p in pts] for m, pts in card.thresholds.items()}


async def ensure_defaults(session: AsyncSession) -> None:
    """Store the shipped scorecards as version 1 of each motion, once (never over an edit)."""
    await repo.insert_first_versions(
        session, {motion: _document(card) for motion, card in DEFAULT_SCORECARDS.items()}
    )


def to_domain(row: ScorecardRow) -> Scorecard:
    """A stored version as the rules use it."""
    return Scorecard(
        motion=row.motion,  # type: ignore[arg-type]
        version=row.version,
        weights=row.weights,
        thresholds={
            m: tuple((float(x), float(y)) for x, y in pts) for m, pts in row.thresholds.items()
        },
    )


async def _current_rows(session: AsyncSession) -> dict[str, ScorecardRow]:
    """The newest stored version of each motion's scorecard, the defaults stored first if a
    motion has none (the app stores them at start; this covers a database migrated since)."""
    rows = await repo.current_scorecards(session)
    if len(rows) < len(DEFAULT_SCORECARDS):
        await ensure_defaults(session)
        rows = await repo.current_scorecards(session)
    return rows


async def scorecards_in_force(session: AsyncSession) -> dict[str, Scorecard]:
    """The newest version of each motion's scorecard (the defaults until one is edited)."""
    return {motion: to_domain(row) for motion, row in (await _current_rows(session)).items()}


async def cuts_in_force(session: AsyncSession) -> RfmBreakpoints:
    """The RFM cut points of the last full recompute (none yet: everyone in the middle)."""
    row = await repo.rfm_cuts(session)
    if row is None:
        return RfmBreakpoints(None, None, None)
    return RfmBreakpoints(**{k: tuple(v) if v is not None else None for k, v in row.cuts.items()})


async def refresh_cuts(session: AsyncSession) -> RfmBreakpoints:
    """Take new cut points from every active account's stored snapshot."""
    population = await snapshots_repo.rfm_population(session)
    cuts = breakpoints(population)
    await repo.store_rfm_cuts(session, asdict(cuts), len(population))
    return cuts


async def list_scorecards(session: AsyncSession) -> list[ScorecardOut]:
    """The scorecard in force for each motion."""
    rows = await _current_rows(session)
    return [ScorecardOut.model_validate(rows[m]) for m in sorted(rows)]


async def get_scorecard(session: AsyncSession, motion: MotionSegment) -> ScorecardOut:
    """The scorecard in force for one motion."""
    rows = await _current_rows(session)
    return ScorecardOut.model_validate(rows[motion])


async def versions(session: AsyncSession, motion: MotionSegment) -> list[ScorecardOut]:
    """Every version of a motion's scorecard, newest first."""
    await _current_rows(session)
    return [ScorecardOut.model_validate(r) for r in await repo.versions(session, motion)]


def checked(motion: MotionSegment, body: ScorecardIn, version: int = 0) -> Scorecard:
    """The proposed scorecard, or a 422 naming every field that breaks a rule."""
    problems = validate_scorecard(body.weights, body.thresholds)
    if problems:
        raise InvalidScorecard(
            "The scorecard breaks "
            + ("a rule" if len(problems) == 1 else f"{len(problems)} rules")
            + ": "
            + "; ".join(f"{p.field}: {p.message}" for p in problems),
            errors=[
                FieldError(detail=p.message, pointer="/" + _pointer(p.field)) for p in problems
            ],
        )
    return Scorecard(
        motion=motion,
        version=version,
        weights=body.weights,
        thresholds={m: tuple(pts) for m, pts in body.thresholds.items()},
    )


def _pointer(field: str) -> str:
    """``thresholds.login_recency[2]`` as the JSON pointer ``thresholds/login_recency/2``."""
    return field.replace("[", ".").replace("]", "").replace(".", "/")


async def put_scorecard(
    session: AsyncSession, motion: MotionSegment, body: ScorecardIn, author: str
) -> ScorecardOut:
    """Store a new version of a motion's scorecard; it scores from the next recompute."""
    card = checked(motion, body)
    await _current_rows(session)  # version 1 is the default, stored before any edit
    weights, thresholds = _document(card)
    row = await repo.add_version(
        session, motion, weights, thresholds, comment=body.comment, created_by=author
    )
    return ScorecardOut.model_validate(row)


def measures() -> list[MeasureOut]:
    """The measures a scorecard weighs."""
    return [
        MeasureOut(name=m.name, direction=m.direction, unit=m.unit, description=m.description)
        for m in MEASURES.values()
    ]


def _colour_counts(colours: Sequence[str | None]) -> ColourCounts:
    counts = Counter(c or "unscored" for c in colours)
    return ColourCounts(**counts)


async def preview(session: AsyncSession, motion: MotionSegment, body: ScorecardIn) -> PreviewOut:
    """How the proposed scorecard would colour the motion's accounts, re-scoring each one's
    stored raw measures; nothing is saved."""
    card = checked(motion, body)
    snapshots = await snapshots_repo.motion_snapshots(session, motion)
    proposed = [score_health(_raw_values(s), card) for s in snapshots]
    moves = Counter(
        f"{s.computed_colour or 'unscored'}->{h.colour or 'unscored'}"
        for s, h in zip(snapshots, proposed, strict=True)
        if s.computed_colour != h.colour
    )
    return PreviewOut(
        motion=motion,
        accounts=len(snapshots),
        current=_colour_counts([s.computed_colour for s in snapshots]),
        proposed=_colour_counts([h.colour for h in proposed]),
        moves=dict(sorted(moves.items())),
        mean_score_current=_mean([s.health_score for s in snapshots]),
        mean_score_proposed=_mean([h.score for h in proposed]),
    )


def _raw_values(snapshot: Snapshot) -> dict[str, float | None]:
    return {m.measure: m.raw for m in snapshot.measures}


def _mean(scores: Sequence[float | None]) -> float | None:
    present = [s for s in scores if s is not None]
    return round(sum(present) / len(present), 1) if present else None
