"""Scoring's settings."""

from __future__ import annotations

from typing import ClassVar

from shared.settings import ServiceSettings


class ScoringSettings(ServiceSettings):
    """Environment: ``TENURE_*`` (see ServiceSettings)."""

    service_name: ClassVar[str] = "scoring"
