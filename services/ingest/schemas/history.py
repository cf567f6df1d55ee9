"""Account history and renewal outcomes as ingest answers them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts import ACCOUNTS_PER_QUERY, AccountId, AccountStatus, BillingPeriod, Outcome
from shared.pagination import MAX_LIMIT, Page


class HistoryFacts(BaseModel):
    """The tracked facts in force from a history row's ``effective_at`` on."""

    model_config = ConfigDict(from_attributes=True)

    status: AccountStatus
    plan: str | None
    billing_period: BillingPeriod
    mrr_minor: int
    currency: str
    seats_purchased: int
    renewal_date: date | None
    cancel_intent: bool


class FieldChange(BaseModel):
    """One fact's value before and after a change (``old`` null for a new account)."""

    old: Any
    new: Any


class HistoryEntry(BaseModel):
    """One change of an account's tracked facts."""

    id: int
    account_id: str
    effective_at: datetime = Field(description="When the change took effect")
    source: str = Field(description="crm, stripe, standard_webhooks or backfill")
    event_id: str | None = Field(description="The webhook event's id, for a billing change")
    facts: HistoryFacts
    changes: dict[str, FieldChange] = Field(
        description="The facts that changed against those in force just before, when recorded"
    )
    recorded_at: datetime


class AccountHistoryPage(Page[HistoryEntry]):
    """A page of an account's fact changes, oldest first, and the outcomes of its passed
    renewal dates (over its whole history, on every page)."""

    outcomes: list[Outcome]


class OutcomesQuery(BaseModel):
    """Outcomes of named accounts, or of every account with a renewal date in a range (or
    both: the named accounts' renewals in the range)."""

    model_config = ConfigDict(extra="forbid")

    account_ids: list[AccountId] | None = Field(
        default=None, min_length=1, max_length=ACCOUNTS_PER_QUERY
    )
    renewal_from: date | None = Field(default=None, description="Renewal dates from this day")
    renewal_to: date | None = Field(default=None, description="Renewal dates up to this day")
    after: str | None = Field(
        default=None, description="Opaque cursor: the next_cursor of a previous page"
    )
    limit: int = Field(default=100, ge=1, le=MAX_LIMIT)
