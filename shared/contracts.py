"""What services tell each other: message topics and payloads, and the account vocabulary.

Sender and receiver import the same names from here, so a topic or a payload field cannot
drift between the two ends, and scoring and offers speak of an account as ingest stores it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError

from shared.validation import Text

# An account's facts, as ingest keeps them and scoring and offers read them.
MotionSegment = Literal["smb", "mid_market", "enterprise"]
BillingPeriod = Literal["monthly", "annual", "multi_year"]
AccountStatus = Literal["trial", "active", "paused", "cancelled"]

ACCOUNTS_CHANGED = "accounts.changed"
AccountId = Annotated[Text, Field(min_length=1, max_length=200)]


class AccountsChanged(BaseModel):
    """``accounts.changed`` (ingest → scoring): these accounts' signals or facts changed."""

    account_ids: list[AccountId] = Field(max_length=10_000)

    @classmethod
    def read(cls, topic: str, payload: Mapping[str, Any]) -> AccountsChanged | None:
        """The message if it is one of these and well formed, else None (a receiver skips
        a message it does not understand rather than trusting its fields)."""
        if topic != ACCOUNTS_CHANGED:
            return None
        try:
            return cls.model_validate(payload)
        except ValidationError:
            return None
