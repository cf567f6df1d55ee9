"""Offers's tables, all in the ``offers`` schema. Its domain tables arrive with its own issue."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, String, func
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


class Outbox(OutboxMixin, Base):
    """Messages offers will owe other services. Nothing writes it yet, so no dispatcher runs."""


class Inbox(InboxMixin, Base):
    """Messages offers has processed: scoring's snapshot changes."""
