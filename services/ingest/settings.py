"""Ingest's settings."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from shared.settings import ServiceSettings


class IngestSettings(ServiceSettings):
    """Environment: ``TENURE_*`` (see ServiceSettings) plus the intake limits below."""

    service_name: ClassVar[str] = "ingest"

    max_batch_events: int = 1000
    max_batch_bytes: int = 1_000_000
    # Segment's own limits for its Tracking API.
    segment_max_message_bytes: int = 32 * 1024
    segment_max_batch_bytes: int = 500 * 1024
    # How long a webhook signing secret replaced by a rotation still verifies.
    webhook_secret_grace_seconds: float = 24 * 3600

    @property
    def webhook_secret_grace(self) -> timedelta:
        """``webhook_secret_grace_seconds`` as a duration."""
        return timedelta(seconds=self.webhook_secret_grace_seconds)
