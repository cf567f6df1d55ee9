"""Rejected events' bodies and replay outcomes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.validation import Text


class RejectedOut(BaseModel):
    """A kept rejected event."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    source: str
    event_id: str | None
    reason: str
    field: str
    raw: Any
    received_at: datetime
    resolved_at: datetime | None
    replays: int
    segment_endpoint: str | None = Field(
        description="The Segment endpoint it came to (batch, track, group...), read again so"
    )
    batch_sent_at: datetime | None = Field(description="Its batch's sentAt, applied again")


class ReplayFilter(BaseModel):
    """Which unresolved rejected events to replay, oldest first."""

    model_config = ConfigDict(extra="forbid")

    source: Text | None = Field(
        default=None, description="native, segment:<source id> or webhook:<source id>"
    )
    reason_contains: Text | None = None
    limit: int = Field(default=100, ge=1, le=1000)


class ReplayOutcome(BaseModel):
    """What a replay did with one rejected event."""

    id: int
    outcome: Literal["accepted", "duplicate", "rejected"]
    reason: str | None = None


class ReplayResult(BaseModel):
    """What a bulk replay did."""

    accepted: int
    duplicates: int
    rejected: int
    items: list[ReplayOutcome]
