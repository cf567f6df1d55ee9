"""Offers's settings."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.settings import ServiceSettings


class OffersSettings(ServiceSettings):
    """Environment: ``TENURE_*`` (see ServiceSettings) plus offers's own below."""

    service_name: ClassVar[str] = "offers"

    # Decisions that offered nothing (not eligible, trigger false, a limit, a full budget)
    # are kept this long; offers and holdouts are kept for good (the results read them).
    decision_retention_days: int = Field(default=90, ge=1)
    # How often old decisions are swept (0 turns the sweep off).
    decision_sweep_interval_seconds: float = Field(default=3600.0, ge=0)
