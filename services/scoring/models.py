"""Scoring's tables, all in the ``scoring`` schema."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    Double,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import schema_metadata
from shared.outbox import InboxMixin, OutboxMixin


class Base(DeclarativeBase):
    """Base of every scoring table: all live in the ``scoring`` schema."""

    metadata = schema_metadata("scoring")


class AccountChange(Base):
    """An account whose signals changed since it was last scored: the worker's queue."""

    __tablename__ = "account_changes"

    account_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    first_changed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    last_changed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    changes: Mapped[int] = mapped_column(Integer, server_default=text("1"))


class Scorecard(Base):
    """One version of a motion segment's scorecard: weights and thresholds per measure.

    Versions are never changed; the newest of a motion is the one in force.
    """

    __tablename__ = "scorecards"

    motion: Mapped[str] = mapped_column(String(20), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    weights: Mapped[dict[str, Any]] = mapped_column(JSONB)
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSONB)
    comment: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Snapshot(Base):
    """An account's latest snapshot: the whole of it in ``document``, and beside it the
    columns lists filter and sort on."""

    __tablename__ = "snapshots"
    __table_args__ = (
        Index("ix_snapshots_segment", "segment", "account_id"),
        Index("ix_snapshots_colour", "colour", "account_id"),
        Index("ix_snapshots_tier", "tier", "account_id"),
        Index(
            "ix_snapshots_override_expiry",
            "override_expires_at",
            postgresql_where=text("override_expires_at IS NOT NULL"),
        ),
    )

    account_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    as_of: Mapped[date] = mapped_column(Date)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    scorecard_version: Mapped[int] = mapped_column(Integer)
    motion_segment: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    health_score: Mapped[float | None] = mapped_column(Double)
    computed_colour: Mapped[str | None] = mapped_column(String(10))
    # The colour in force: an override's while it lasts (the worker lapses it at expiry).
    colour: Mapped[str | None] = mapped_column(String(10))
    override_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    segment: Mapped[str] = mapped_column(String(20))
    tier: Mapped[str] = mapped_column(String(10))
    renewal_window: Mapped[int | None] = mapped_column(SmallInteger)
    mrr_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # RFM inputs, so the quintile cuts are taken from the stored population.
    recency_days: Mapped[int | None] = mapped_column(Integer)
    frequency: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column(JSONB)


class ScoreHistory(Base):
    """An account's score on each day it was scored (the last computation of the day)."""

    __tablename__ = "score_history"

    account_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    health_score: Mapped[float | None] = mapped_column(Double)
    colour: Mapped[str | None] = mapped_column(String(10))
    segment: Mapped[str] = mapped_column(String(20))
    tier: Mapped[str] = mapped_column(String(10))
    scorecard_version: Mapped[int] = mapped_column(Integer)


class ColourOverride(Base):
    """A CSM's colour for an account, with a reason and an expiry; kept after it ends."""

    __tablename__ = "overrides"
    __table_args__ = (Index("ix_overrides_account", "account_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(200))
    colour: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cleared_by: Mapped[str | None] = mapped_column(String(200))


class RfmCuts(Base):
    """The quintile cut points in force, taken from all active accounts' snapshots at the
    end of each full recompute (one row)."""

    __tablename__ = "rfm_cuts"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    cuts: Mapped[dict[str, Any]] = mapped_column(JSONB)
    population: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Job(Base):
    """A recompute of some or all accounts, run in batches by the worker."""

    __tablename__ = "jobs"
    __table_args__ = (
        # One daily recompute per day, however many processes schedule it.
        UniqueConstraint("scheduled_for", name="uq_jobs_scheduled_for"),
        Index("ix_jobs_open", "created_at", postgresql_where=text("finished_at IS NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(20))  # recompute | daily
    account_ids: Mapped[list[str] | None] = mapped_column(ARRAY(String(200)))
    status: Mapped[str] = mapped_column(String(20))  # queued | running | succeeded
    scheduled_for: Mapped[date | None] = mapped_column(Date)
    # A past day to score as of (filling in history); None: the day the batch runs.
    as_of: Mapped[date | None] = mapped_column(Date)
    total: Mapped[int | None] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    scored: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    changed: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # Where a walk over all accounts resumes: the last account id done.
    resume_after: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Outbox(OutboxMixin, Base):
    """Messages scoring owes offers: ``snapshot.changed``."""


class Inbox(InboxMixin, Base):
    """Messages scoring has processed."""
