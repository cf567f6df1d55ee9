"""Scoring's settings."""

from __future__ import annotations

from datetime import time
from typing import ClassVar

from pydantic import Field, field_validator

from shared.settings import ServiceSettings


class ScoringSettings(ServiceSettings):
    """Environment: ``TENURE_*`` (see ServiceSettings) plus the worker's settings below."""

    service_name: ClassVar[str] = "scoring"

    # Accounts scored per batch: one read from ingest and one write per batch.
    recompute_batch_size: int = Field(default=1000, ge=1, le=1000)
    # How often the worker looks for work when it found none.
    worker_poll_seconds: float = Field(default=0.5, gt=0)
    # UTC time of the daily full recompute (time alone moves recency and days to renewal);
    # empty turns it off. A process that starts later in the day runs the day's one if no
    # process has yet.
    daily_recompute_at: time | None = time(2, 0)
    # A running job whose worker has not reported for this long is taken over by another.
    job_stale_seconds: float = Field(default=120.0, gt=0)

    @field_validator("daily_recompute_at", mode="before")
    @classmethod
    def _empty_is_off(cls, value: object) -> object:
        return None if value == "" else value
