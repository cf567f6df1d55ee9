"""Scorecards' bodies."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts import MotionSegment
from shared.validation import Text

# Finite numbers only: a weight or threshold of NaN or infinity is refused by the parser.
Number = float
Point = tuple[Number, Number]


class ScorecardIn(BaseModel):
    """A new version of a motion's scorecard: a weight and thresholds for every measure.

    Weights sum to 100. Each measure's thresholds are [value, sub-score] points with values
    strictly increasing and sub-scores from 0 to 100, rising for a measure where more is
    better and falling for one where less is (see ``GET /v1/scorecards/measures``).
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    weights: dict[str, Number] = Field(max_length=50)
    thresholds: dict[str, list[Point]] = Field(max_length=50)
    comment: Text | None = Field(default=None, max_length=2000)


class ScorecardOut(BaseModel):
    """One version of a motion's scorecard."""

    model_config = ConfigDict(from_attributes=True)

    motion: MotionSegment
    version: int
    weights: dict[str, float]
    thresholds: dict[str, list[Point]]
    comment: str | None
    created_by: str
    created_at: datetime


class MeasureOut(BaseModel):
    """A health measure: what it reads and which way is better."""

    name: str
    direction: str
    unit: str
    description: str


class ColourCounts(BaseModel):
    """Accounts by colour (``unscored``: no measure had data)."""

    red: int = 0
    yellow: int = 0
    green: int = 0
    unscored: int = 0


class PreviewOut(BaseModel):
    """How a proposed scorecard would move a motion's accounts, from their stored measures."""

    motion: MotionSegment
    accounts: int
    current: ColourCounts
    proposed: ColourCounts
    moves: dict[str, int] = Field(description='Accounts by "from->to" colour, changes only')
    mean_score_current: float | None
    mean_score_proposed: float | None
