"""The console's tables, in the ``console`` schema: its people, never business data.

Everything a page shows comes from the four services' APIs; the console keeps only who may
sign in, with which roles, and the hash of their password.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Identity, Index, String, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import schema_metadata


class Base(DeclarativeBase):
    """Base of the console's tables."""

    metadata = schema_metadata("console")


class User(Base):
    """A person who signs in with a name and password (argon2id hash only)."""

    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UserEvent(Base):
    """A change to one of the console's people, by whom (the audit log lists them)."""

    __tablename__ = "user_events"
    __table_args__ = (
        CheckConstraint("event IN ('created', 'reset', 'disabled')", name="event"),
        Index("ix_user_events_at_id", "at", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    name: Mapped[str] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(String(20))
    principal: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
