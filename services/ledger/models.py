"""The ledger's tables, all in the ``ledger`` schema.

Transactions, postings and lot movements are append-only: the service role may insert and
read them, never update or delete (see ``shared.migrate``). Balances, chain heads and lot
remainders are derived state kept beside them, and ``/v1/audit/verify`` recomputes them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import schema_metadata
from shared.outbox import InboxMixin, OutboxMixin


class Base(DeclarativeBase):
    """Base of every ledger table: all live in the ``ledger`` schema."""

    metadata = schema_metadata("ledger")


class LedgerAccount(Base):
    """A ledger account. Customer accounts carry their balance and their hash chain's head."""

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        CheckConstraint("balance IS NULL OR balance >= 0", name="customer_never_negative"),
        Index("ix_ledger_accounts_customer", "customer_account_id", "unit"),
    )

    id: Mapped[str] = mapped_column(String(300), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # customer, expense, breakage, invoices, ...
    unit: Mapped[str] = mapped_column(String(40))
    customer_account_id: Mapped[str | None] = mapped_column(String(200))
    program_id: Mapped[str | None] = mapped_column(String(200))
    # Customer accounts only: the balance (a liability, never negative) and chain head.
    balance: Mapped[int | None] = mapped_column(BigInteger)
    chain_seq: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    chain_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class LedgerTransaction(Base):
    """An append-only ledger transaction, linked into its chain."""

    __tablename__ = "transactions"
    __table_args__ = (
        UniqueConstraint("chain_key", "chain_seq", name="uq_transactions_chain_position"),
        UniqueConstraint("reverses_id", name="uq_transactions_reverses"),
        CheckConstraint(
            "kind IN ('grant', 'redemption', 'expiry', 'reversal', 'adjustment')", name="kind"
        ),
        Index("ix_transactions_offer", "offer_id"),
        Index("ix_transactions_invoice", "invoice_id"),
        Index("ix_transactions_program", "program_id"),
        # Listing order (and cursor), overall and per customer account.
        Index("ix_transactions_created", "created_at", "id"),
        Index("ix_transactions_account", "customer_account_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    effective_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    customer_account_id: Mapped[str | None] = mapped_column(String(200))
    offer_id: Mapped[str | None] = mapped_column(String(200))
    program_id: Mapped[str | None] = mapped_column(String(200))
    invoice_id: Mapped[str | None] = mapped_column(String(200))
    tier: Mapped[str | None] = mapped_column(String(40))
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("transactions.id"))
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, server_default=text("'{}'::jsonb")
    )
    chain_key: Mapped[str] = mapped_column(String(300))
    chain_seq: Mapped[int] = mapped_column(BigInteger)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Posting(Base):
    """One side of a transaction: a signed integer amount on a ledger account."""

    __tablename__ = "postings"
    __table_args__ = (Index("ix_postings_account_time", "ledger_account_id", "effective_at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    transaction_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("transactions.id"), index=True)
    ledger_account_id: Mapped[str] = mapped_column(ForeignKey("ledger_accounts.id"))
    unit: Mapped[str] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(BigInteger)
    effective_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CreditLot(Base):
    """Credit from one grant; ``remaining`` is derived from its movements."""

    __tablename__ = "lots"
    __table_args__ = (
        CheckConstraint("remaining >= 0 AND remaining <= amount", name="remaining_in_range"),
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_lots_account_fifo", "ledger_account_id", "expires_at", "granted_at"),
        Index("ix_lots_expiring", "expires_at", postgresql_where=text("remaining > 0")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    grant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("transactions.id"), unique=True)
    ledger_account_id: Mapped[str] = mapped_column(ForeignKey("ledger_accounts.id"))
    customer_account_id: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    program_id: Mapped[str | None] = mapped_column(String(200))
    tier: Mapped[str | None] = mapped_column(String(40))
    # The offer whose grant made the lot (its grant's offer_id): movements of the lot are
    # told to offers (credit.moved) in the transaction that makes them.
    offer_id: Mapped[str | None] = mapped_column(String(200))


class LotMovement(Base):
    """An append-only change to a lot's remainder, made by one transaction."""

    __tablename__ = "lot_movements"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    lot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lots.id"), index=True)
    transaction_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("transactions.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)


class IdempotencyKey(Base):
    """A request's idempotency key, its fingerprint and its response."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_created", "created_at"),)

    # Keys are scoped to the caller; the fingerprint covers the operation and its body.
    # A key is written with its response, in the transaction that did the work.
    principal: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[Any] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class OfferRevocation(Base):
    """An offer offers asked to revoke (``offer.revoke_requested``): its grant, if any, was
    reversed for what was left, and a grant request for it arriving later grants nothing."""

    __tablename__ = "offer_revocations"

    offer_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    message_id: Mapped[uuid.UUID]
    reason: Mapped[str] = mapped_column(String(500))
    requested_by: Mapped[str] = mapped_column(Text)  # the contract does not bound it
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Outbox(OutboxMixin, Base):
    """Messages the ledger owes other services."""


class Inbox(InboxMixin, Base):
    """Messages the ledger has processed."""
