"""Ingest's tables, all in the ``ingest`` schema."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.contracts import Counters
from shared.db import schema_metadata
from shared.outbox import OutboxMixin


class Base(DeclarativeBase):
    """Base of every ingest table: all live in the ``ingest`` schema."""

    metadata = schema_metadata("ingest")


class Account(Base):
    """A customer account, as the CRM describes it, plus signals from billing."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint(
            "motion_segment IN ('smb', 'mid_market', 'enterprise')", name="motion_segment"
        ),
        CheckConstraint("billing_period IN ('monthly', 'annual', 'multi_year')", name="period"),
        CheckConstraint("status IN ('trial', 'active', 'paused', 'cancelled')", name="status"),
        CheckConstraint("mrr_minor >= 0", name="mrr_non_negative"),
        CheckConstraint("seats_purchased >= 0", name="seats_non_negative"),
        CheckConstraint(
            "renewal_date IS NULL OR contract_start IS NULL OR renewal_date > contract_start",
            name="renewal_after_start",
        ),
        Index("ix_accounts_updated", "updated_at", "external_id"),
    )

    external_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(500))
    industry: Mapped[str | None] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(200))
    motion_segment: Mapped[str] = mapped_column(String(20))
    plan: Mapped[str | None] = mapped_column(String(200))
    billing_period: Mapped[str] = mapped_column(String(20))
    mrr_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    seats_purchased: Mapped[int] = mapped_column(Integer)
    contract_start: Mapped[date | None] = mapped_column(Date)
    renewal_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    champion_user_id: Mapped[str | None] = mapped_column(String(200))
    stripe_customer_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    cancel_intent: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # When the billing facts above were last set by a billing event (older events lose).
    billing_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AccountHistory(Base):
    """One change of an account's tracked facts (``domain.history.TRACKED_FIELDS``): the
    complete facts in force from ``effective_at`` on, and what changed against those in force
    just before it when it was recorded. Ordered by ``(effective_at, id)``."""

    __tablename__ = "account_history"
    __table_args__ = (
        CheckConstraint("billing_period IN ('monthly', 'annual', 'multi_year')", name="period"),
        CheckConstraint("status IN ('trial', 'active', 'paused', 'cancelled')", name="status"),
        Index("ix_account_history_account", "account_id", "effective_at", "id"),
        # Accounts whose history held a renewal date in a range (POST /v1/outcomes/query).
        Index("ix_account_history_renewal", "renewal_date", "account_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(200), ForeignKey("accounts.external_id"))
    effective_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # crm, stripe, standard_webhooks or backfill; event_id is the webhook event's, if any.
    source: Mapped[str] = mapped_column(String(30))
    event_id: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    plan: Mapped[str | None] = mapped_column(String(200))
    billing_period: Mapped[str] = mapped_column(String(20))
    mrr_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    seats_purchased: Mapped[int] = mapped_column(Integer)
    renewal_date: Mapped[date | None] = mapped_column(Date)
    cancel_intent: Mapped[bool] = mapped_column(Boolean)
    # {field: {"old": ..., "new": ...}} for the facts that changed (old null when created).
    changes: Mapped[dict[str, Any]] = mapped_column(JSONB)
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class User(Base):
    """A person using the product; ``account_id`` links them to their account."""

    __tablename__ = "users"
    __table_args__ = (
        Index("ix_users_account", "account_id"),
        Index("ix_users_updated", "updated_at", "external_id"),
    )

    external_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    account_id: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(500))
    role: Mapped[str | None] = mapped_column(String(200))
    traits: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class UserAlias(Base):
    """A Segment ``alias`` call: another id (often an anonymous one) is this user."""

    __tablename__ = "user_aliases"

    previous_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Source(Base):
    """Where events come from: a Segment-style write key or a webhook signing secret."""

    __tablename__ = "sources"
    __table_args__ = (
        CheckConstraint("kind IN ('segment', 'stripe', 'standard_webhooks')", name="kind"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(200))
    # Write keys are only compared, so only their hash is kept.
    write_key_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Webhook secrets must be kept to compute signatures; the previous one stays valid
    # during a rotation.
    signing_secret: Mapped[str | None] = mapped_column(Text)
    previous_signing_secret: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class StoredEvent(Base):
    """A product event, stored once per id; ``account_id`` is null until attributed."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_account_ts", "account_id", "ts"),
        # A source's last event and its counts over a day and a week (GET /v1/sources).
        Index("ix_events_source_received", "source_id", "received_at"),
        # The event log of a user, newest first (GET /v1/events?user_id=).
        Index("ix_events_user_ts", "user_id", "ts", "id"),
        Index(
            "ix_events_unattributed_user", "user_id", postgresql_where=text("account_id IS NULL")
        ),
        Index(
            "ix_events_unattributed_anonymous",
            "anonymous_id",
            postgresql_where=text("account_id IS NULL AND user_id IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    source_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sources.id"))
    type: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    account_id: Mapped[str | None] = mapped_column(String(200))
    user_id: Mapped[str | None] = mapped_column(String(200))
    anonymous_id: Mapped[str | None] = mapped_column(String(200))
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # The timestamp as the client sent it, before clock-skew correction; null when it sent
    # none (arrival time was taken) or the event was stored before this was kept.
    sent_ts: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RejectedEvent(Base):
    """An event that was refused, kept with its reason and raw body for inspection and replay."""

    __tablename__ = "rejected_events"
    __table_args__ = (
        Index("ix_rejected_received", "received_at", "id"),
        # A source's rejections over the last day (GET /v1/sources).
        Index("ix_rejected_source_received", "source", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    source: Mapped[str] = mapped_column(String(60))
    event_id: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    field: Mapped[str] = mapped_column(String(200))
    raw: Mapped[Any] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # Set when a replay got the event accepted (or found it stored already); kept for audit.
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    replays: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # How a replay reads a Segment message as its request did: the endpoint it came to
    # (``batch``, or ``group``... whose type a message without one takes) and the batch's
    # ``sentAt`` (clock-skew correction).
    segment_endpoint: Mapped[str | None] = mapped_column(String(20))
    batch_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EventMapVersion(Base):
    """One version of the event map; the newest is in force."""

    __tablename__ = "event_maps"

    version: Mapped[int] = mapped_column(Integer, Identity(always=True), primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class DailyRollup(Base):
    """Per account and UTC day: what the account's users did."""

    __tablename__ = "daily_rollups"
    # The window aggregates scoring reads (repository/windows.py) come from the key alone:
    # an account's days sit on as many table pages as it has days (intake writes day by
    # day), and reading them there was most of a full recompute.
    __table_args__ = (
        PrimaryKeyConstraint("account_id", "day", postgresql_include=list(Counters.model_fields)),
    )

    account_id: Mapped[str] = mapped_column(String(200))
    day: Mapped[date] = mapped_column(Date)
    events: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    active_users: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    logins: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    key_actions: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    core_features: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    integrations: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    api_calls: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    exports: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    tickets_opened: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    tickets_closed: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    payment_failures: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    invoices_paid: Mapped[int] = mapped_column(Integer, server_default=text("0"))


class DailyActiveUser(Base):
    """Which users were active on an account's day (for distinct counts)."""

    __tablename__ = "daily_active_users"

    account_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)


class DailyFeature(Base):
    """Which core features were used on an account's day (for distinct counts)."""

    __tablename__ = "daily_features"

    account_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    feature: Mapped[str] = mapped_column(String(200), primary_key=True)


class Ticket(Base):
    """A support ticket's current state; opening and closing count on their own days."""

    __tablename__ = "tickets"
    __table_args__ = (
        CheckConstraint("severity IN ('low', 'medium', 'high', 'urgent')", name="severity"),
        CheckConstraint("status IN ('open', 'closed')", name="status"),
        Index("ix_tickets_open", "account_id", postgresql_where=text("status = 'open'")),
    )

    ticket_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10))
    opened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Time of the newest update applied; an older update arriving late changes nothing.
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SurveyResponse(Base):
    """An NPS (0-10) or CSAT (1-5) answer, stored once per client id."""

    __tablename__ = "survey_responses"
    __table_args__ = (
        CheckConstraint("kind IN ('nps', 'csat')", name="kind"),
        CheckConstraint(
            "(kind = 'nps' AND score BETWEEN 0 AND 10)"
            " OR (kind = 'csat' AND score BETWEEN 1 AND 5)",
            name="score_range",
        ),
        Index("ix_survey_latest", "account_id", "kind", "responded_at"),
    )

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10))
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    responded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WebhookEvent(Base):
    """A verified webhook (Stripe or Standard Webhooks), stored once per source and event id
    (two sources may use the same ids without silencing each other).

    ``applied_at`` stays null while the event waits for its account (or Stripe customer
    mapping) to arrive; the account's arrival applies it. One that cannot apply to its
    account gets ``rejected_at`` (and a rejected-event row with the reason) and waits for a
    replay instead.
    """

    __tablename__ = "webhook_events"
    __table_args__ = (
        Index(
            "ix_webhook_pending",
            "customer_ref",
            postgresql_where=text("applied_at IS NULL AND rejected_at IS NULL"),
        ),
        # A webhook source's last event and its counts (GET /v1/sources).
        Index("ix_webhook_events_source_received", "source_id", "received_at"),
    )

    source_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sources.id"), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    provider: Mapped[str] = mapped_column(String(30))
    type: Mapped[str] = mapped_column(String(100))
    # The Stripe customer id, or the account id for generic events.
    customer_ref: Mapped[str] = mapped_column(String(200))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    applied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rejected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Outbox(OutboxMixin, Base):
    """Messages ingest owes other services (``accounts.changed`` to scoring)."""


class AuditRecord(Base):
    """A change someone made to how ingest works (a source, the event map) or to what it
    holds by hand (a replay, a rebuild): the audit log lists them."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at_id", "at", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    principal: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(300))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
