"""Recompute jobs' bodies."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts import AccountId


class RecomputeIn(BaseModel):
    """Recompute these accounts, or all of them when none are named."""

    model_config = ConfigDict(extra="forbid")

    account_ids: list[AccountId] | None = Field(default=None, min_length=1, max_length=10_000)
    as_of: date | None = Field(
        default=None,
        description=(
            "A past day (up to 399 days back, the reach of a 400-day history) to score as"
            " of: fills in each account's history for that day and leaves its snapshot as"
            " it is. Today by default."
        ),
    )


class JobOut(BaseModel):
    """A recompute's progress: accounts done of the total (unknown for all accounts until the
    walk ends), scored, and snapshots changed in a way offers hears of."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: Literal["recompute", "daily"]
    status: Literal["queued", "running", "succeeded"]
    account_ids: list[str] | None
    as_of: date | None
    total: int | None
    done: int
    scored: int
    changed: int
    last_error: str | None
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
