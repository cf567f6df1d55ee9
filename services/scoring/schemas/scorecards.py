"""Scorecards' bodies."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict

from shared.contracts import MotionSegment
from shared.validation import Text

# Finite numbers only (NaN and infinity are refused by the parser), within bounds no measure
# comes near, so no sum or interpolation of them can overflow.
Number = Annotated[float, Strict(), Field(ge=-1e12, le=1e12)]
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


class ColourChurn(BaseModel):
    """Renewals whose account had one colour 90 days before, and how many churned."""

    renewals: int
    churned: int
    churn_rate: float | None


class BacktestOut(BaseModel):
    """How well the stored scores foretold the renewals that passed (see the README)."""

    motion: MotionSegment
    renewals_from: date
    renewals_to: date
    lead_days: int = Field(description="The score is the one this many days before renewal")
    renewals: int
    unscored: int = Field(description="Renewals with no score in the 30 days up to the lead day")
    churned: int
    stayed: int = Field(description="Renewed, expanded or contracted")
    by_colour: dict[str, ColourChurn]
    auc: float | None = Field(description="P(a stayer scored above a churner); 0.5 is chance")
    verdict: str
