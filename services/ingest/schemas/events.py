"""Native events' bodies: a batch's outcome, the event log's entries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from services.ingest.schemas.batches import RejectedItem


class EventBatchResult(BaseModel):
    """What became of each event of a batch."""

    accepted: int = Field(description="New events stored")
    duplicates: int = Field(description="Events whose id was already stored")
    rejected: list[RejectedItem]


class StoredEventOut(BaseModel):
    """A stored event as it arrived: where from, and the clock correction applied to it."""

    id: str = Field(description="The event id (Segment messageId)")
    source_id: uuid.UUID | None = Field(description="The Segment source; null for native events")
    type: str
    name: str
    timestamp: datetime = Field(description="When it happened, as stored (corrected)")
    sent_timestamp: datetime | None = Field(
        description="The timestamp the client sent; null when it sent none (arrival time taken)"
    )
    correction_seconds: float = Field(
        description="timestamp - sent_timestamp: the clock-skew correction applied (Segment sentAt)"
    )
    received_at: datetime
    account_id: str | None
    user_id: str | None
    anonymous_id: str | None
    properties: dict[str, Any]
