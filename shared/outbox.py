"""Transactional outbox (sender side) and inbox (receiver side).

A message is written to the sender's ``outbox`` table in the same transaction as the change
that caused it. A dispatcher in the sender's process claims due messages with
``FOR UPDATE SKIP LOCKED`` (so several dispatchers never send the same message), posts them
in batches to the receiver's ``/v1/notifications``, and deletes them once acknowledged. A
failed delivery is retried with exponential backoff and jitter, and parked after
``max_attempts`` failures, where an admin can list and retry it. Receivers record each
message id in their ``inbox`` table in the transaction that processes it and drop repeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
import structlog
from pydantic import BaseModel, Field
from sqlalchemy import (
    BigInteger,
    DateTime,
    Identity,
    Index,
    Integer,
    String,
    Text,
    and_,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from shared.http import ServiceClient
from shared.logging import current_request_id, new_request_id, reset_request_id, set_request_id
from shared.metrics import (
    OUTBOX_BACKLOG,
    OUTBOX_DELIVERED,
    OUTBOX_FAILURES,
    OUTBOX_OLDEST_AGE,
)

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
    payload: dict[str, Any]
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


def backoff_seconds(attempts: int, *, base: float, cap: float) -> float:
    """Exponential backoff with full jitter after ``attempts`` failures."""
    ceiling = min(cap, base * (2 ** max(attempts - 1, 0)))
    return float(random.uniform(ceiling / 2, ceiling))


class OutboxDispatcher:
    """Delivers one service's outbox, in its own background task."""

    def __init__(
        self,
        *,
        service: str,
        model: type[OutboxMixin],
        factory: async_sessionmaker[AsyncSession],
        clients: dict[str, ServiceClient],
        poll_seconds: float,
        batch_size: int,
        max_attempts: int,
        backoff_base: float = 0.5,
        backoff_cap: float = 60.0,
    ) -> None:
        self.service = service
        self.model = model
        self.factory = factory
        self.clients = clients
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        """Start delivering in the background."""
        self._task = asyncio.create_task(self._run(), name=f"{self.service}-outbox")

    async def stop(self) -> None:
        """Stop after the batch in flight, if any."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        cycles = 0
        while not self._stopping:
            try:
                delivered = await self.deliver_due()
                if cycles % 10 == 0:
                    await self.refresh_gauges()
            except Exception:
                _log.exception("outbox_cycle_failed")
                delivered = 0
            cycles += 1
            if delivered >= self.batch_size:
                continue  # more may be waiting
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            self._wake.clear()

    async def deliver_due(self) -> int:
        """Claim and deliver one batch of due messages; returns how many were acknowledged."""
        m = self.model
        async with self.factory() as session, session.begin():
            claimed = (
                await session.scalars(
                    select(m)
                    .where(m.parked_at.is_(None), m.next_attempt_at <= func.now())
                    .order_by(m.id)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not claimed:
                return 0
            by_destination: dict[str, list[OutboxMixin]] = defaultdict(list)
            for row in claimed:
                by_destination[row.destination].append(row)
            acknowledged = 0
            for destination, rows in by_destination.items():
                error = await self._post(destination, rows)
                if error is None:
                    await session.execute(delete(m).where(m.id.in_([r.id for r in rows])))
                    acknowledged += len(rows)
                    OUTBOX_DELIVERED.labels(self.service).inc(len(rows))
                else:
                    OUTBOX_FAILURES.labels(self.service).inc()
                    _log.warning("outbox_delivery_failed", destination=destination, error=error)
                    for row in rows:
                        self._record_failure(row, error)
            return acknowledged

    def _record_failure(self, row: OutboxMixin, error: str) -> None:
        row.attempts += 1
        row.last_error = error[:2000]
        delay = backoff_seconds(row.attempts, base=self.backoff_base, cap=self.backoff_cap)
        row.next_attempt_at = func.now() + timedelta(seconds=delay)
        if row.attempts >= self.max_attempts:
            row.parked_at = func.now()

    async def _post(self, destination: str, rows: Sequence[OutboxMixin]) -> str | None:
        client = self.clients.get(destination)
        if client is None:
            return f"no client configured for destination '{destination}'"
        body = Delivery(
            messages=[
                Message(
                    id=r.message_id,
                    topic=r.topic,
                    source=self.service,
                    payload=r.payload,
                    request_id=r.request_id,
                )
                for r in rows
            ]
        )
        # A delivery of one message continues its request; a mixed batch gets an id of its own.
        origins = {r.request_id for r in rows}
        request_id = origins.pop() if len(origins) == 1 else None
        token = set_request_id(request_id or new_request_id())
        try:
            response = await client.request(
                "POST",
                NOTIFICATIONS_PATH,
                content=body.model_dump_json(),
                headers={"Content-Type": "application/json"},
                idempotent=False,  # the outbox itself retries, with persistent backoff
            )
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        finally:
            reset_request_id(token)
        if response.status_code >= 300:
            return f"HTTP {response.status_code}: {response.text[:500]}"
        return None

    async def refresh_gauges(self) -> None:
        """Update the backlog and oldest-age gauges."""
        m = self.model
        async with self.factory() as session:
            row = (
                await session.execute(
                    select(
                        func.count().filter(m.parked_at.is_(None)),
                        func.count().filter(m.parked_at.is_not(None)),
                        func.extract("epoch", func.now() - func.min(m.created_at)),
                    )
                )
            ).one()
        OUTBOX_BACKLOG.labels(self.service, "pending").set(row[0])
        OUTBOX_BACKLOG.labels(self.service, "parked").set(row[1])
        OUTBOX_OLDEST_AGE.labels(self.service).set(float(row[2] or 0))


async def list_entries(
    session: AsyncSession,
    model: type[OutboxMixin],
    *,
    parked: bool | None,
    after_id: int | None,
    limit: int,
) -> list[OutboxEntry]:
    """Outbox messages in id order, optionally only parked (or only pending) ones."""
    m = model
    query = select(m).order_by(m.id).limit(limit)
    if parked is True:
        query = query.where(m.parked_at.is_not(None))
    elif parked is False:
        query = query.where(m.parked_at.is_(None))
    if after_id is not None:
        query = query.where(m.id > after_id)
    rows = (await session.scalars(query)).all()
    return [OutboxEntry.model_validate(row, from_attributes=True) for row in rows]


async def retry_parked(session: AsyncSession, model: type[OutboxMixin], entry_id: int) -> bool:
    """Put a parked message back in line; False if there is no such parked message."""
    m = model
    result = await session.execute(
        update(m)
        .where(and_(m.id == entry_id, m.parked_at.is_not(None)))
        .values(parked_at=None, attempts=0, next_attempt_at=func.now())
        .returning(m.id)
    )
    return result.scalar_one_or_none() is not None
