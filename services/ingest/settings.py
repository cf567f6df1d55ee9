"""Ingest's settings."""

from __future__ import annotations

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
