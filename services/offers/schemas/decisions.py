"""Decisions and evaluation runs as the API shows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.offers.domain.decisions import DecisionOutcome
from shared.contracts import AccountId


class DecisionOut(BaseModel):
    """One evaluation of one program for one account."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    decided_at: datetime
    account_id: str
    program_id: str
    program_version: int
    outcome: DecisionOutcome
    reason: str = Field(description="Which rule, budget or cooldown (and until when), in words")
    offer_id: uuid.UUID | None = Field(description="The offer made, when the outcome is offered")
    snapshot_computed_at: datetime = Field(description="When the snapshot decided on was made")


class EvaluateIn(BaseModel):
    """Which accounts to evaluate now; every account with a snapshot when absent."""

    model_config = ConfigDict(extra="forbid")

    account_ids: list[AccountId] | None = Field(
        default=None,
        min_length=1,
        max_length=1_000,
        description="Absent: every account; null is refused (it is too easy to send by mistake)",
    )

    @field_validator("account_ids", mode="before")
    @classmethod
    def _null_is_not_everyone(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("is null: leave account_ids out to evaluate every account")
        return value


class EvaluationOut(BaseModel):
    """What an evaluation run decided."""

    accounts: int = Field(description="Accounts evaluated")
    evaluations: int = Field(description="Program evaluations (accounts x live programs)")
    outcomes: dict[DecisionOutcome, int] = Field(description="Decisions by outcome")
    offer_ids: list[uuid.UUID] = Field(description="The offers this run proposed")
    unscored_account_ids: list[str] = Field(
        description="Accounts asked for that scoring has never announced a snapshot of"
    )
