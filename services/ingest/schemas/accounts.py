"""Accounts' bodies."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from services.ingest.schemas.batches import ExternalId
from shared.contracts import AccountStatus, BillingPeriod, MotionSegment
from shared.validation import INT32_MAX, INT64_MAX, Instant, Text

# How far ahead of the server's clock an effective time may be (clients' clocks drift).
EFFECTIVE_AT_SKEW = timedelta(minutes=5)
EFFECTIVE_AT_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


class AccountFields(BaseModel):
    """An account's fields as the CRM sends them."""

    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=500)
    industry: Text | None = Field(default=None, max_length=200)
    region: Text | None = Field(default=None, max_length=200)
    motion_segment: MotionSegment
    plan: Text | None = Field(default=None, max_length=200)
    billing_period: BillingPeriod
    mrr_minor: StrictInt = Field(
        ge=0, le=INT64_MAX, description="Monthly recurring revenue in minor units"
    )
    currency: Text = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. USD")
    seats_purchased: StrictInt = Field(ge=0, le=INT32_MAX)
    contract_start: date | None = None
    renewal_date: date | None = None
    status: AccountStatus
    champion_user_id: Text | None = Field(default=None, max_length=200)
    stripe_customer_id: Text | None = Field(default=None, max_length=200)
    cancel_intent: bool = False

    @model_validator(mode="after")
    def _renewal_after_start(self) -> Self:
        if (
            self.renewal_date is not None
            and self.contract_start is not None
            and self.renewal_date <= self.contract_start
        ):
            raise ValueError("renewal_date must be after contract_start")
        return self


class AccountIn(AccountFields):
    """An account's fields as the CRM sends them, and since when they hold."""

    effective_at: Instant | None = Field(
        default=None,
        description=(
            "When these facts took effect (now by default): a CRM backfill loads the past"
            " with it. At most 5 minutes ahead of the server's clock, not before 1970. A"
            " version older than the newest facts the account's history holds is recorded"
            " in the history at its time and leaves the account as it is."
        ),
    )

    @field_validator("effective_at")
    @classmethod
    def _plausible_time(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value < EFFECTIVE_AT_EARLIEST:
            raise ValueError("must not be before 1970-01-01T00:00:00Z")
        if value > datetime.now(UTC) + EFFECTIVE_AT_SKEW:
            raise ValueError("must not be more than 5 minutes in the future")
        return value


class AccountBatchItem(AccountIn):
    """An account in a batch upsert, naming itself."""

    external_id: Text = ExternalId


class AccountBatch(BaseModel):
    """Up to 1,000 accounts to upsert at once."""

    accounts: list[AccountBatchItem] = Field(min_length=1, max_length=1000)


class AccountOut(AccountFields):
    """An account as stored."""

    model_config = ConfigDict(extra="ignore", from_attributes=True)

    external_id: str
    created_at: datetime
    updated_at: datetime
    billing_updated_at: datetime | None = Field(
        description=(
            "When the billing system last set the subscription fields (seats, MRR, billing"
            " period, currency, status, renewal date, cancel intent). Once set, those fields"
            " follow billing: a CRM upsert's copy of them is not taken."
        )
    )
