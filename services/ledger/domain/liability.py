"""How outstanding credit is aged in the liability report: whole days since its grant."""

from __future__ import annotations

from datetime import datetime

# Each bucket holds ages below its bound (in whole days), after the bucket before it.
AGE_BUCKETS: tuple[tuple[int, str], ...] = ((30, "0-29"), (60, "30-59"), (90, "60-89"))
OLDEST = "90+"


def age_bucket(granted_at: datetime, now: datetime) -> str:
    """The bucket of credit granted at ``granted_at``, seen at ``now``."""
    days = (now - granted_at).days
    for bound, name in AGE_BUCKETS:
        if days < bound:
            return name
    return OLDEST
