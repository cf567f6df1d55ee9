"""Offers's tables, all in the ``offers`` schema. Its domain tables arrive with its own issue."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from shared.db import schema_metadata
from shared.outbox import InboxMixin, OutboxMixin


class Base(DeclarativeBase):
    """Base of every offers table: all live in the ``offers`` schema."""

    metadata = schema_metadata("offers")


class Outbox(OutboxMixin, Base):
    """Messages offers will owe other services. Nothing writes it yet, so no dispatcher runs."""


class Inbox(InboxMixin, Base):
    """Messages offers has processed: scoring's snapshot changes once scoring sends them."""
