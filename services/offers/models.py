"""Offers's tables, all in the ``offers`` schema.

Programs and their versions; the budgets reserved against; the decisions every evaluation
records (the table that grows fastest: narrow rows, only the indexes the filters need); the
offers, their approvals and the history of each.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Interval,
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
    """Base of every offers table: all live in the ``offers`` schema."""

    metadata = schema_metadata("offers")


class AccountSnapshot(Base):
    """The newest snapshot scoring announced for each account, and what changed in it."""

    __tablename__ = "account_snapshots"

    account_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSONB)
    changes: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    message_id: Mapped[uuid.UUID]
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Program(Base):
    """A program: its status and which of its versions runs (``live_version``)."""

    __tablename__ = "programs"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    live_version: Mapped[int | None] = mapped_column(Integer)
    latest_version: Mapped[int] = mapped_column(Integer)
    # The shipped default it was made from ("renewal_credit"), if any.
    default_key: Mapped[str | None] = mapped_column(String(40))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ProgramVersion(Base):
    """One version of a program's definition, and who approved it to go live."""

    __tablename__ = "program_versions"

    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # pending (awaiting approval), live, superseded (replaced before or after going live).
    state: Mapped[str] = mapped_column(String(20))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    approved_by: Mapped[str | None] = mapped_column(String(200))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    comment: Mapped[str | None] = mapped_column(Text)


class ProgramEvent(Base):
    """One step in a program's story (created, edited, approved, a status change): who, when,
    and why, so a pause or an archive keeps its reason."""

    __tablename__ = "program_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    event: Mapped[str] = mapped_column(String(20))
    principal: Mapped[str] = mapped_column(String(200))
    version: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), comment="The program's status after the event")
    reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_program_events_program", "program_id", "id"),
        # The audit log, newest first (GET /v1/audit).
        Index("ix_program_events_at", "at", "id"),
    )


class ProgramSeed(Base):
    """The shipped defaults already created once: never created again, edited or not."""

    __tablename__ = "program_seeds"

    default_key: Mapped[str] = mapped_column(String(40), primary_key=True)
    program_id: Mapped[str] = mapped_column(String(200))
    seeded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Budget(Base):
    """What a program has committed against one of its budgets (``program`` or
    ``tier:<tier>``): offers proposed and not released. Reserved by a conditional update,
    so concurrent proposals can never take it past its cap."""

    __tablename__ = "budgets"

    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"), primary_key=True)
    scope: Mapped[str] = mapped_column(String(40), primary_key=True)
    committed_minor: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))


class Decision(Base):
    """One evaluation of one program for one account, and what came of it."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    account_id: Mapped[str] = mapped_column(String(200))
    program_id: Mapped[str] = mapped_column(String(200))
    program_version: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    offer_id: Mapped[uuid.UUID | None]
    snapshot_computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_decisions_account", "account_id", "id"),
        Index("ix_decisions_program_outcome", "program_id", "outcome", "id"),
        # Decisions arrive in time order: a BRIN index serves time ranges for a few pages.
        Index("ix_decisions_decided_at", "decided_at", postgresql_using="brin"),
    )


class Offer(Base):
    """An incentive proposed to an account, as it moves through approval to the ledger."""

    __tablename__ = "offers"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    account_id: Mapped[str] = mapped_column(String(200))
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    program_version: Mapped[int] = mapped_column(Integer)
    decision_id: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(20))
    reward: Mapped[dict[str, Any]] = mapped_column(JSONB)
    value_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    tier: Mapped[str] = mapped_column(String(20))
    arr_minor: Mapped[int] = mapped_column(BigInteger)
    approvals_required: Mapped[int] = mapped_column(SmallInteger)
    finance_required: Mapped[bool] = mapped_column(Boolean)
    # The budgets its value was reserved against ("program", "tier:gold").
    budget_scopes: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    released_minor: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    granted_minor: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    redeemed_minor: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    remaining_minor: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    credit_expires_after: Mapped[timedelta | None] = mapped_column(Interval)
    proposed_by: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(200))
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_offers_account_program", "account_id", "program_id", "created_at"),
        Index("ix_offers_program_state", "program_id", "state", "created_at"),
        Index("ix_offers_state", "state", "created_at"),
    )


class OfferEvent(Base):
    """One step in an offer's story: a state change, an approval, a ledger movement."""

    __tablename__ = "offer_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    offer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offers.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    event: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(20), comment="The offer's state after the event")
    principal: Mapped[str] = mapped_column(String(200))
    comment: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))

    __table_args__ = (
        Index("ix_offer_events_offer", "offer_id", "id"),
        # The audit log, newest first (GET /v1/audit).
        Index("ix_offer_events_at", "at", "id"),
    )


class Approval(Base):
    """An approval given to an offer, in its slot (``approver`` or ``finance``). One
    principal fills at most one slot of an offer: the database says so too."""

    __tablename__ = "approvals"

    offer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offers.id"), primary_key=True)
    slot: Mapped[str] = mapped_column(String(20), primary_key=True)
    principal: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    comment: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("offer_id", "principal"),)


class Outbox(OutboxMixin, Base):
    """Messages offers owes the ledger: grants of approved credits, revokes."""


class Inbox(InboxMixin, Base):
    """Messages offers has processed: scoring's snapshot changes, the ledger's credit moves."""
