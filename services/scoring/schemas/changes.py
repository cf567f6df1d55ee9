"""Scoring's request and response bodies."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class AccountChangeOut(BaseModel):
    """An account waiting to be rescored."""

    model_config = ConfigDict(from_attributes=True)

    account_id: str
    first_changed_at: datetime
    last_changed_at: datetime
    changes: int
