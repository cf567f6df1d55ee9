"""The Segment Tracking API's answer."""

from __future__ import annotations

from services.ingest.schemas.events import EventBatchResult


class SegmentResult(EventBatchResult):
    """Segment's answer shape (``success``), plus Tenure's per-event account."""

    success: bool = True
