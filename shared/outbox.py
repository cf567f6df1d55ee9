"""Transactional outbox (sender side) and inbox (receiver side).

A message is written to the sender's ``outbox`` table in the same transaction as the change
that caused it. A dispatcher in the sender's process claims messages in id order with
``FOR UPDATE SKIP LOCKED`` (so several dispatchers never send the same message), posts them
in batches to the receiver's ``/v1/notifications``, and deletes them once acknowledged.

A receiver that cannot be reached, or answers 5xx, 408, 429 (or 401/403/404: a key or a
route, not the message, is wrong) is retried for as long as it takes, with capped
exponential backoff. While a destination is failing its circuit is open: only its oldest
message is tried, alone, when due, and the rest wait behind it, so an outage costs one
attempt in flight and the order of delivery is kept. Only a message the receiver refuses
(any other 4xx) is parked, where an admin can list and retry it: a refused batch is split,
by the message the problem details point at when they do, by halves otherwise, so one bad
message never parks its neighbours. Receivers record each message id in their ``inbox``
table in the transaction that processes it and drop repeats.

This module holds the tables, the messages and how they are written and received; the
dispatcher is ``shared.outbox_delivery``, listing and retrying parked messages
``shared.outbox_admin``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar, cast

import structlog
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import (
    BigInteger,
    DateTime,
    Identity,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from shared.errors import FieldError, Forbidden, Unprocessable
from shared.logging import current_request_id
from shared.validation import JsonObject

NOTIFICATIONS_PATH = "/v1/notifications"
_log = structlog.get_logger("tenure.outbox")


class OutboxMixin:
    """Columns of a service's ``outbox`` table."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    message_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    destination: Mapped[str] = mapped_column(String(40))
    topic: Mapped[str] = mapped_column(String(80))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    last_error: Mapped[str | None] = mapped_column(Text)
    parked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The request that caused the message, so it can be followed into the receiver.
    request_id: Mapped[str | None] = mapped_column(String(128))

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            Index(
                "ix_outbox_due",
                "next_attempt_at",
                postgresql_where=text("parked_at IS NULL"),
            ),
        )


class InboxMixin:
    """Columns of a service's ``inbox`` table: ids of messages already processed."""

    __tablename__ = "inbox"

    message_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(40))
    topic: Mapped[str] = mapped_column(String(80))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Message(BaseModel):
    """A message as it travels between services."""

    id: uuid.UUID
    topic: str = Field(min_length=1, max_length=80)
    source: str = Field(min_length=1, max_length=40)
    payload: JsonObject
    request_id: str | None = Field(default=None, max_length=128)


class Delivery(BaseModel):
    """The body a dispatcher posts to ``/v1/notifications``."""

    messages: list[Message] = Field(min_length=1, max_length=1000)


class DeliveryAck(BaseModel):
    """What a receiver answers: which messages it processed now, which it had already."""

    processed: list[uuid.UUID]
    duplicates: list[uuid.UUID]


class OutboxEntry(BaseModel):
    """An outbox message as an admin sees it."""

    id: int
    message_id: uuid.UUID
    destination: str
    topic: str
    payload: dict[str, Any]
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    parked_at: datetime | None
    request_id: str | None


def enqueue(
    session: AsyncSession,
    model: type[OutboxMixin],
    destination: str,
    topic: str,
    payload: dict[str, Any],
) -> uuid.UUID:
    """Add a message to the outbox within the caller's transaction; returns its id."""
    message_id = uuid.uuid4()
    row = model()
    row.message_id = message_id
    row.destination = destination
    row.topic = topic
    row.payload = payload
    row.request_id = current_request_id()
    session.add(row)
    return message_id


async def enqueue_many(
    session: AsyncSession,
    model: type[OutboxMixin],
    destination: str,
    topic: str,
    payloads: Sequence[dict[str, Any]],
) -> list[uuid.UUID]:
    """Add one message per payload to the outbox in one statement, within the caller's
    transaction (a batch of snapshots changes at once); returns their ids in order."""
    if not payloads:
        return []
    ids = [uuid.uuid4() for _ in payloads]
    request_id = current_request_id()
    table = model.__table__  # type: ignore[attr-defined]
    await session.execute(
        insert(table),
        [
            {
                "message_id": i,
                "destination": destination,
                "topic": topic,
                "payload": p,
                "request_id": request_id,
            }
            for i, p in zip(ids, payloads, strict=True)
        ],
    )
    return ids


def fresh_messages(messages: Sequence[Message], new: set[uuid.UUID]) -> list[Message]:
    """The messages to process: those whose id the inbox had not seen (``record_new``), each
    id once; a repeat within the same delivery is a duplicate like any other."""
    fresh: list[Message] = []
    taken: set[uuid.UUID] = set()
    for message in messages:
        if message.id in new and message.id not in taken:
            taken.add(message.id)
            fresh.append(message)
    return fresh


def acknowledgement(messages: Sequence[Message], fresh: Sequence[Message]) -> DeliveryAck:
    """What a receiver answers: the fresh messages processed, every other one a duplicate."""
    processed = {id(m) for m in fresh}
    return DeliveryAck(
        processed=[m.id for m in fresh],
        duplicates=[m.id for m in messages if id(m) not in processed],
    )


M = TypeVar("M", bound=BaseModel)


def read_delivery(delivery: Delivery, topic: str, model: type[M]) -> list[tuple[Message, M]]:
    """The delivery's messages of ``topic``, each with its payload read as ``model`` (the
    contract); messages of other topics are not this receiver's and are left out.

    A message of the topic that does not read as the contract says is refused, never dropped:
    a 422 whose errors point into it (``/messages/3/payload/account_ids/0``), so the sender
    parks that one message and delivers the rest again.
    """
    return cast(list[tuple[Message, M]], read_topics(delivery, {topic: model}))


def read_topics(
    delivery: Delivery, models: Mapping[str, type[BaseModel]]
) -> list[tuple[Message, BaseModel]]:
    """``read_delivery`` for a receiver of several topics (``models``: each topic's contract):
    its messages of those topics in delivery order, each with its payload read, so one topic's
    messages are processed in their order relative to another's. Every message that does not
    read is named in the one 422."""
    read: list[tuple[Message, BaseModel]] = []
    errors: list[FieldError] = []
    for index, message in enumerate(delivery.messages):
        model = models.get(message.topic)
        if model is None:
            continue
        try:
            read.append((message, model.model_validate(message.payload)))
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                path = "/".join(str(part) for part in error["loc"])
                pointer = f"/messages/{index}/payload" + (f"/{path}" if path else "")
                errors.append(FieldError(detail=error["msg"], pointer=pointer))
    if errors:
        raise Unprocessable(
            f"{len({e.pointer.split('/')[2] for e in errors if e.pointer})} message(s) of"
            f" {' or '.join(models)} do not read as the contract says.",
            errors=errors,
        )
    return read


def check_senders(delivery: Delivery, sender: str, admin: bool, senders: Mapping[str, str]) -> None:
    """Refuse (403) a delivery carrying a topic only another service may send: ``senders``
    names, per topic, the one principal whose messages of it are believed (a service's own
    key, ``service:<name>``; an admin may act for any). Anyone else with the receiver's write
    scope could otherwise forge what another service reports. The sender's outbox retries a
    403 (a key is wrong, not the message), so nothing is parked or lost meanwhile."""
    if admin:
        return
    for topic in sorted({m.topic for m in delivery.messages if m.topic in senders}):
        if senders[topic] != sender:
            raise Forbidden(f"Only {senders[topic]} delivers {topic}; this key is {sender}.")


async def record_new(
    session: AsyncSession, model: type[InboxMixin], messages: Sequence[Message]
) -> set[uuid.UUID]:
    """Record message ids in the inbox; returns the ids not seen before (to be processed).

    Each message is logged with the request that caused it, so a request can be followed
    from the sender into the receiver.
    """
    if not messages:
        return set()
    rows = [{"message_id": m.id, "source": m.source, "topic": m.topic} for m in messages]
    table = model.__table__  # type: ignore[attr-defined]
    result = await session.execute(
        insert(table).values(rows).on_conflict_do_nothing().returning(table.c.message_id)
    )
    new = set(result.scalars())
    for m in messages:
        _log.info(
            "message_received",
            message_id=str(m.id),
            topic=m.topic,
            source=m.source,
            origin_request_id=m.request_id,
            duplicate=m.id not in new,
        )
    return new
