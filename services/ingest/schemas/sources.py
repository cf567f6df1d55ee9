"""Sources' bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.validation import Text

SourceKind = Literal["segment", "stripe", "standard_webhooks"]


class SourceCreate(BaseModel):
    """An event source to create."""

    model_config = ConfigDict(extra="forbid")

    kind: SourceKind
    name: Text = Field(min_length=1, max_length=200)


class SourceOut(BaseModel):
    """A source as listed: no secret."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: SourceKind
    name: str
    disabled_at: datetime | None
    created_at: datetime
    rotated_at: datetime | None


class SourceListed(SourceOut):
    """A source as the list shows it: no secret, and what it has sent lately."""

    last_event_at: datetime | None = Field(
        description="When its newest stored event arrived (null: none yet)"
    )
    events_24h: int = Field(description="Events stored from it in the last 24 hours")
    events_7d: int = Field(description="Events stored from it in the last 7 days")
    rejected_24h: int = Field(description="Events from it refused in the last 24 hours")


class SourceWithSecret(SourceOut):
    """A source with its write key (segment) or signing secret (webhooks), shown once."""

    write_key: str | None = None
    signing_secret: str | None = None
