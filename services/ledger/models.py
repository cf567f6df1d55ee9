"""Ledger's tables, all in the ``ledger`` schema. Its domain tables arrive with its own issue."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from shared.db import schema_metadata
from shared.outbox import InboxMixin, OutboxMixin


class Base(DeclarativeBase):
    """Base of every ledger table: all live in the ``ledger`` schema."""

    metadata = schema_metadata("ledger")


class Outbox(OutboxMixin, Base):
    """Messages ledger owes other services."""


class Inbox(InboxMixin, Base):
    """Messages ledger has processed."""
