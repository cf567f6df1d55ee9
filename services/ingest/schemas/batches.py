"""What batch requests and answers share: items naming themselves, refused items, counts."""

from __future__ import annotations

from pydantic import BaseModel, Field

from shared.validation import ID_PATTERN

ExternalId = Field(min_length=1, max_length=200, pattern=ID_PATTERN)


class RejectedItem(BaseModel):
    """One refused item (event, user) of a batch."""

    index: int
    id: str | None
    reason: str
    field: str


class BatchUpsertResult(BaseModel):
    """How many records of a batch were created and how many updated."""

    created: int
    updated: int
