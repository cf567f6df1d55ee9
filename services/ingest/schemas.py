"""Ingest's request and response bodies."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from services.ingest.domain.support import SURVEY_RANGES
from shared.contracts import AccountId, AccountStatus, BillingPeriod, MotionSegment
from shared.validation import ID_PATTERN, INT32_MAX, INT64_MAX, Instant, JsonObject, Text

SourceKind = Literal["segment", "stripe", "standard_webhooks"]
ExternalId = Field(min_length=1, max_length=200, pattern=ID_PATTERN)


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


class AccountBatchItem(AccountFields):
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


class EventBatchResult(BaseModel):
    """What became of each event of a batch."""

    accepted: int = Field(description="New events stored")
    duplicates: int = Field(description="Events whose id was already stored")
    rejected: list[RejectedItem]


class StoredEventOut(BaseModel):
    """A stored event as it arrived: where from, and the clock correction applied to it."""

    id: str = Field(description="The event id (Segment messageId)")
    source_id: uuid.UUID | None = Field(description="The Segment source; null for native events")
    type: str
    name: str
    timestamp: datetime = Field(description="When it happened, as stored (corrected)")
    sent_timestamp: datetime | None = Field(
        description="The timestamp the client sent; null when it sent none (arrival time taken)"
    )
    correction_seconds: float = Field(
        description="timestamp - sent_timestamp: the clock-skew correction applied (Segment sentAt)"
    )
    received_at: datetime
    account_id: str | None
    user_id: str | None
    anonymous_id: str | None
    properties: dict[str, Any]


class SegmentResult(EventBatchResult):
    """Segment's answer shape (``success``), plus Tenure's per-event account."""

    success: bool = True


class SourceCreate(BaseModel):
    """An event source to create."""

    model_config = ConfigDict(extra="forbid")

    kind: SourceKind
    name: Text = Field(min_length=1, max_length=200)


class SourceOut(BaseModel):
    """A source as listed: no secret."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: SourceKind
    name: str
    disabled_at: datetime | None
    created_at: datetime
    rotated_at: datetime | None


class SourceWithSecret(SourceOut):
    """A source with its write key (segment) or signing secret (webhooks), shown once."""

    write_key: str | None = None
    signing_secret: str | None = None


class EventMapDocument(BaseModel):
    """Which event names count as what."""

    model_config = ConfigDict(extra="forbid")

    logins: list[Text] = Field(default_factory=list, max_length=1000)
    key_actions: list[Text] = Field(default_factory=list, max_length=1000)
    core_features: dict[Text, Text] = Field(
        default_factory=dict, description="event name -> feature it shows use of"
    )
    integrations: list[Text] = Field(default_factory=list, max_length=1000)
    api_calls: list[Text] = Field(default_factory=list, max_length=1000)
    exports: list[Text] = Field(default_factory=list, max_length=1000)


class EventMapOut(EventMapDocument):
    """The event map in force."""

    model_config = ConfigDict(extra="ignore")

    version: int
    created_at: datetime | None
    created_by: str


class RollupOut(BaseModel):
    """One account's UTC day."""

    model_config = ConfigDict(from_attributes=True)

    day: date
    events: int
    active_users: int
    logins: int
    key_actions: int
    core_features: int
    integrations: int
    api_calls: int
    exports: int
    tickets_opened: int
    tickets_closed: int
    payment_failures: int
    invoices_paid: int


class SignalsQuery(BaseModel):
    """Accounts (up to 1,000) and how many days of rollups to return."""

    model_config = ConfigDict(extra="forbid")

    account_ids: list[AccountId] = Field(min_length=1, max_length=1000)
    days: int = Field(default=60, ge=1, le=400)
    as_of: date | None = Field(
        default=None,
        ge=date(1970, 1, 1),
        le=date(9999, 1, 1),
        description="Last day included; today by default",
    )


class SurveyLatest(BaseModel):
    """An account's newest response of one kind."""

    score: int
    responded_at: datetime


class AccountSupport(BaseModel):
    """Support and sentiment right now."""

    open_tickets: dict[str, int] = Field(description="Open tickets by severity")
    nps: SurveyLatest | None
    csat: SurveyLatest | None


class AccountSignals(BaseModel):
    """An account's facts and its recent rollups (days with no activity are omitted)."""

    account_id: str
    account: AccountOut | None
    support: AccountSupport
    rollups: list[RollupOut]


class SignalsResponse(BaseModel):
    """Signals for every requested account, in request order."""

    accounts: list[AccountSignals]


class RejectedOut(BaseModel):
    """A kept rejected event."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    source: str
    event_id: str | None
    reason: str
    field: str
    raw: Any
    received_at: datetime
    resolved_at: datetime | None
    replays: int
    segment_endpoint: str | None = Field(
        description="The Segment endpoint it came to (batch, track, group...), read again so"
    )
    batch_sent_at: datetime | None = Field(description="Its batch's sentAt, applied again")


class ReplayFilter(BaseModel):
    """Which unresolved rejected events to replay, oldest first."""

    model_config = ConfigDict(extra="forbid")

    source: Text | None = Field(
        default=None, description="native, segment:<source id> or webhook:<source id>"
    )
    reason_contains: Text | None = None
    limit: int = Field(default=100, ge=1, le=1000)


class ReplayOutcome(BaseModel):
    """What a replay did with one rejected event."""

    id: int
    outcome: Literal["accepted", "duplicate", "rejected"]
    reason: str | None = None


class ReplayResult(BaseModel):
    """What a bulk replay did."""

    accepted: int
    duplicates: int
    rejected: int
    items: list[ReplayOutcome]


class TicketIn(BaseModel):
    """A ticket's status as the support system reports it."""

    model_config = ConfigDict(extra="forbid")

    ticket_id: Text = Field(min_length=1, max_length=200)
    account_id: Text = Field(min_length=1, max_length=200)
    status: Literal["open", "closed"]
    severity: Literal["low", "medium", "high", "urgent"]
    occurred_at: Instant = Field(description="When the ticket reached this status")


class TicketOut(BaseModel):
    """A ticket's state after an update; ``applied`` is false for a stale or repeated one."""

    ticket_id: str
    account_id: str
    status: str
    severity: str
    opened_at: datetime | None
    closed_at: datetime | None
    applied: bool


class SurveyIn(BaseModel):
    """An NPS (0-10) or CSAT (1-5) response, idempotent by ``id``."""

    model_config = ConfigDict(extra="forbid")

    id: Text = Field(min_length=1, max_length=200)
    account_id: Text = Field(min_length=1, max_length=200)
    user_id: Text | None = Field(default=None, max_length=200)
    kind: Literal["nps", "csat"]
    score: StrictInt
    comment: Text | None = Field(default=None, max_length=5000)
    responded_at: Instant

    @model_validator(mode="after")
    def _score_in_range(self) -> Self:
        low, high = SURVEY_RANGES[self.kind]
        if not low <= self.score <= high:
            raise ValueError(f"score must be {low}-{high} for {self.kind}")
        return self


class SurveyOut(BaseModel):
    """Whether the response was stored now or had been already."""

    id: str
    duplicate: bool


class WebhookResult(BaseModel):
    """What became of a verified webhook."""

    received: bool = True
    event_id: str | None = None
    duplicate: bool = False
    ignored: bool = Field(default=False, description="A type Tenure does not use")
    applied: bool = False
    pending: bool = Field(default=False, description="Waiting for its account to be known")
    rejected: bool = Field(
        default=False,
        description="Stored but cannot apply to its account: kept in /v1/rejected, replayable",
    )
    reason: str | None = Field(default=None, description="Why it was rejected")


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
