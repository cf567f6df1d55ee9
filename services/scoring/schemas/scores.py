"""Scores' bodies: the snapshot itself is ``shared.contracts.Snapshot``."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts import Colour, Segment, Tier
from shared.validation import Instant, Text


class HistoryPoint(BaseModel):
    """An account's score on one day."""

    model_config = ConfigDict(from_attributes=True)

    day: date
    health_score: float | None
    colour: Colour | None
    segment: Segment
    tier: Tier
    scorecard_version: int


class ScoreHistoryOut(BaseModel):
    """An account's daily scores, oldest first (days it was not scored are absent)."""

    account_id: str
    days: int
    points: list[HistoryPoint]


class OverrideIn(BaseModel):
    """A CSM's colour for an account until ``expires_at``."""

    model_config = ConfigDict(extra="forbid")

    colour: Colour
    reason: Text = Field(min_length=1, max_length=2000)
    expires_at: Instant = Field(description="In the future, at most a year ahead")


class OverrideOut(BaseModel):
    """An override as kept, in force or ended."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    account_id: str
    colour: Colour
    reason: str
    expires_at: datetime
    created_by: str
    created_at: datetime
    cleared_at: datetime | None
    cleared_by: str | None


class GroupTotal(BaseModel):
    """Accounts in one group, and their MRR by currency (minor units)."""

    accounts: int
    mrr_minor: dict[str, int]


class SegmentSummary(BaseModel):
    """Accounts and MRR by segment, by tier and by colour in force (``unscored``: no measure
    had data)."""

    accounts: int
    by_segment: dict[str, GroupTotal]
    by_tier: dict[str, GroupTotal]
    by_colour: dict[str, GroupTotal]
