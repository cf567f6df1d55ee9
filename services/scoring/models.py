"""Scoring's tables, all in the ``scoring`` schema."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import schema_metadata
from shared.outbox import InboxMixin, OutboxMixin


class Base(DeclarativeBase):
    """Base of every scoring table: all live in the ``scoring`` schema."""

    metadata = schema_metadata("scoring")


class AccountChange(Base):
    """An account whose signals changed since it was last scored."""

    __tablename__ = "account_changes"

    account_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    first_changed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    last_changed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    changes: Mapped[int] = mapped_column(Integer, server_default=text("1"))


class Outbox(OutboxMixin, Base):
    """Messages scoring will owe offers (snapshot changes, PRODUCT §3). Nothing writes it yet,
    so no dispatcher runs; the scoring issue wires one with the first message."""


class Inbox(InboxMixin, Base):
    """Messages scoring has processed."""
