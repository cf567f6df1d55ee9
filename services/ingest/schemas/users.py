"""Users' bodies."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from services.ingest.schemas.batches import BatchUpsertResult, ExternalId, RejectedItem
from shared.validation import JsonObject, Text


class UserBatchResult(BatchUpsertResult):
    """A user batch's outcome: items linking to an unknown account are refused on their own."""

    rejected: list[RejectedItem] = Field(description="Refused items (index in the batch)")


class UserFields(BaseModel):
    """A user's fields as the CRM sends them."""

    model_config = ConfigDict(extra="forbid")

    account_id: Text | None = Field(default=None, min_length=1, max_length=200)
    email: Text | None = Field(default=None, max_length=320)
    name: Text | None = Field(default=None, max_length=500)
    role: Text | None = Field(default=None, max_length=200)
    traits: JsonObject = Field(default_factory=dict)


class UserBatchItem(UserFields):
    """A user in a batch upsert, naming itself."""

    external_id: Text = ExternalId


class UserBatch(BaseModel):
    """Up to 1,000 users to upsert at once."""

    users: list[UserBatchItem] = Field(min_length=1, max_length=1000)


class UserOut(UserFields):
    """A user as stored."""

    model_config = ConfigDict(extra="ignore", from_attributes=True)

    external_id: str
    created_at: datetime
    updated_at: datetime
