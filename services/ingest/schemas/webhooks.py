"""A webhook's answer."""

from __future__ import annotations

from pydantic import BaseModel, Field


class WebhookResult(BaseModel):
    """What became of a verified webhook."""

    received: bool = True
    event_id: str | None = None
    duplicate: bool = False
    ignored: bool = Field(default=False, description="A type Tenure does not use")
    applied: bool = False
    pending: bool = Field(default=False, description="Waiting for its account to be known")
    rejected: bool = Field(
        default=False,
        description="Stored but cannot apply to its account: kept in /v1/rejected, replayable",
    )
    reason: str | None = Field(default=None, description="Why it was rejected")
