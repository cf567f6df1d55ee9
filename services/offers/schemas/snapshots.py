"""Snapshots as offers keeps them."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

from shared.contracts import Snapshot, SnapshotChange


class KeptSnapshot(BaseModel):
    """The newest snapshot scoring announced for an account, and what changed in it."""

    account_id: str
    snapshot: Snapshot
    changes: list[SnapshotChange]
    message_id: uuid.UUID
    received_at: datetime
