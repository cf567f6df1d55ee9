"""Offers as a CRM reads them, the decisions on them, and the story of each."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.offers.domain.offers import ApprovalSlot, OfferState
from services.offers.schemas.decisions import DecisionOut
from shared.validation import Text


class ApproveIn(BaseModel):
    """An approval, and optionally why."""

    comment: Text | None = Field(default=None, max_length=2000)


class RejectIn(BaseModel):
    """A rejection, and why."""

    comment: Text = Field(min_length=1, max_length=2000)


class RevokeIn(BaseModel):
    """A revocation, and why (the ledger is told the reason with the reversal)."""

    reason: Text = Field(min_length=1, max_length=500)


class OfferOut(BaseModel):
    """An offer and where it stands: approvals, budget, and its credit in the ledger."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    account_id: str
    program_id: str
    program_version: int
    decision_id: int
    state: OfferState
    reward: dict[str, Any]
    value_minor: int
    currency: str
    tier: str
    arr_minor: int
    approvals_required: int
    finance_required: bool
    budget_scopes: list[str]
    released_minor: int = Field(description="What has been given back to its budgets")
    granted_minor: int = Field(description="What the ledger granted (a credit)")
    redeemed_minor: int = Field(description="What has been redeemed on invoices")
    remaining_minor: int = Field(description="What is left in its lot in the ledger")
    credit_expires_after: timedelta | None
    proposed_by: str
    owner: str
    created_at: datetime
    updated_at: datetime


class ApprovalOut(BaseModel):
    """One approval: its slot, who gave it, when and why."""

    model_config = ConfigDict(from_attributes=True)

    slot: ApprovalSlot
    principal: str
    at: datetime
    comment: str | None


class OfferEventOut(BaseModel):
    """One step of an offer's story; ``state`` is the offer's state after it."""

    model_config = ConfigDict(from_attributes=True)

    at: datetime
    event: str
    state: OfferState
    principal: str
    comment: str | None
    detail: dict[str, Any]


class LedgerTransactionOut(BaseModel):
    """A ledger transaction that moved the offer's credit, as the ledger reported it."""

    at: datetime
    kind: str
    transaction_id: uuid.UUID
    hash: str
    amount_minor: int
    remaining_minor: int
    invoice_id: str | None


class OfferTrace(BaseModel):
    """The whole story of one offer: what the decision saw and said, each approval, every
    step with who, when and why, and the ledger transactions of its credit."""

    offer: OfferOut
    snapshot: dict[str, Any] = Field(description="The account's snapshot the decision saw")
    decision: DecisionOut | None
    approvals: list[ApprovalOut]
    events: list[OfferEventOut]
    ledger_transactions: list[LedgerTransactionOut]
