"""A CSM's override of an account's colour, and when it is in force."""

from __future__ import annotations

from datetime import datetime

from services.scoring.domain.snapshot import override_in_force
from shared.contracts import ColourOverride, Snapshot


def with_override(snapshot: Snapshot, override: ColourOverride | None, now: datetime) -> Snapshot:
    """The snapshot with the colour in force: the override's while it lasts, the computed
    one otherwise. Both stay visible: ``computed_colour`` is never overwritten."""
    current = override_in_force(override, now)
    return snapshot.model_copy(
        update={
            "override": current,
            "colour": current.colour if current else snapshot.computed_colour,
        }
    )
