"""The rollup recount's bodies."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.contracts import AccountId
from shared.validation import Text


class RebuildRequest(BaseModel):
    """Accounts whose rollups to recount: named ones, or the next page of all accounts."""

    model_config = ConfigDict(extra="forbid")

    account_ids: list[AccountId] | None = Field(default=None, min_length=1, max_length=1000)
    after: Text | None = Field(default=None, description="Page mode: start after this account")
    limit: int = Field(default=500, ge=1, le=1000, description="Page mode: accounts per call")

    @model_validator(mode="after")
    def _one_mode(self) -> Self:
        if self.account_ids is not None and self.after is not None:
            raise ValueError("give account_ids or after, not both")
        return self


class RebuildResult(BaseModel):
    """What a rebuild recounted; ``next_after`` continues a page-mode rebuild (null: done)."""

    accounts: int
    events: int
    event_map_version: int
    next_after: str | None
