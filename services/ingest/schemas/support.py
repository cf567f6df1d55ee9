"""Tickets' and survey responses' bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from services.ingest.domain.support import SURVEY_RANGES
from shared.validation import Instant, Text


class TicketIn(BaseModel):
    """A ticket's status as the support system reports it."""

    model_config = ConfigDict(extra="forbid")

    ticket_id: Text = Field(min_length=1, max_length=200)
    account_id: Text = Field(min_length=1, max_length=200)
    status: Literal["open", "closed"]
    severity: Literal["low", "medium", "high", "urgent"]
    occurred_at: Instant = Field(description="When the ticket reached this status")


class TicketOut(BaseModel):
    """A ticket's state after an update; ``applied`` is false for a stale or repeated one."""

    ticket_id: str
    account_id: str
    status: str
    severity: str
    opened_at: datetime | None
    closed_at: datetime | None
    applied: bool


class SurveyIn(BaseModel):
    """An NPS (0-10) or CSAT (1-5) response, idempotent by ``id``."""

    model_config = ConfigDict(extra="forbid")

    id: Text = Field(min_length=1, max_length=200)
    account_id: Text = Field(min_length=1, max_length=200)
    user_id: Text | None = Field(default=None, max_length=200)
    kind: Literal["nps", "csat"]
    score: StrictInt
    comment: Text | None = Field(default=None, max_length=5000)
    responded_at: Instant

    @model_validator(mode="after")
    def _score_in_range(self) -> Self:
        low, high = SURVEY_RANGES[self.kind]
        if not low <= self.score <= high:
            raise ValueError(f"score must be {low}-{high} for {self.kind}")
        return self


class SurveyOut(BaseModel):
    """Whether the response was stored now or had been already."""

    id: str
    duplicate: bool
