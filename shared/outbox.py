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
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

import httpx
import structlog
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import (
    BigInteger,
    ColumnElement,
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
from shared.validation import Instant, JsonObject
from shared.validation import Text as StorableText

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
    # Bounded: an outage may run to any number of attempts, and 2**n past about 1,000 is no
    # longer a float; the cap is reached long before 64 doublings.
    ceiling = min(cap, base * (2 ** max(min(attempts, 64) - 1, 0)))
    return float(random.uniform(ceiling / 2, ceiling))


class Verdict(Enum):
    """What a receiver's answer means for the messages it was sent."""

    DELIVERED = "delivered"
    REFUSED = "refused"  # the receiver will never take them as they are
    RETRY = "retry"  # the receiver (or the way to it) is not able to now


# 4xx answers that say nothing against the message: a key or route that is wrong until an
# operator fixes it, or a receiver asking for time. Retrying them parks nothing.
_RETRIED_4XX = frozenset({401, 403, 404, 408, 425, 429})


def verdict(status: int) -> Verdict:
    """How an HTTP status from ``/v1/notifications`` is treated."""
    if 200 <= status < 300:
        return Verdict.DELIVERED
    if 400 <= status < 500 and status not in _RETRIED_4XX:
        return Verdict.REFUSED
    return Verdict.RETRY


_MESSAGE_POINTER = re.compile(r"^/messages/(\d+)(?:/|$)")


def refused_messages(problem: Any, count: int) -> dict[int, str]:
    """The messages (by position) a refusal's problem details point at, with the reason.

    Only ``errors`` whose pointer lies inside one of the ``count`` messages sent count; an
    answer that points at none (or is not problem details) names no message.
    """
    if not isinstance(problem, dict) or not isinstance(problem.get("errors"), list):
        return {}
    named: dict[int, str] = {}
    for error in problem["errors"]:
        if not isinstance(error, dict) or not isinstance(error.get("pointer"), str):
            continue
        match = _MESSAGE_POINTER.match(error["pointer"])
        if match and int(match.group(1)) < count:
            reason = f"{error['pointer']}: {error.get('detail', '')}"
            named.setdefault(int(match.group(1)), reason)
    return named


@dataclass
class Circuit:
    """Whether deliveries to one destination are failing, as one dispatcher has seen.

    Closed (no failures), messages go in batches; open, only the destination's oldest message
    is tried, alone, and the backoff grows with each consecutive failure.
    """

    failures: int = 0

    @property
    def is_open(self) -> bool:
        """True while the destination's last delivery failed."""
        return self.failures > 0

    def claim_limit(self, batch_size: int) -> int:
        """How many messages the next attempt may carry."""
        return 1 if self.is_open else batch_size

    def failed(self) -> None:
        """Record a delivery that must be retried."""
        self.failures += 1

    def succeeded(self) -> None:
        """Record a delivery the receiver answered (delivered or refused): it is reachable."""
        self.failures = 0

    def delay(self, *, base: float, cap: float) -> float:
        """Seconds to wait before trying the destination again."""
        return backoff_seconds(self.failures, base=base, cap=cap)


@dataclass
class _Outcome:
    """What became of the messages of one delivery attempt, split as the receiver decided."""

    delivered: list[OutboxMixin] = field(default_factory=list)
    parked: list[tuple[OutboxMixin, str]] = field(default_factory=list)
    # Messages still owed after a failure that must be retried, and that failure.
    waiting: list[OutboxMixin] = field(default_factory=list)
    error: str | None = None


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


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
        backoff_base: float = 0.5,
        backoff_cap: float = 60.0,
    ) -> None:
        self.service = service
        self.model = model
        self.factory = factory
        self.clients = clients
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._circuits: dict[str, Circuit] = {}
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
        """Try each destination whose oldest message is due; returns how many were acknowledged.

        Messages leave in id order. A destination whose oldest message waits out a backoff
        is skipped whole, so nothing overtakes it.
        """
        acknowledged = 0
        for destination, client in self.clients.items():
            acknowledged += await self._deliver_to(destination, client)
        return acknowledged

    async def _deliver_to(self, destination: str, client: ServiceClient) -> int:
        m = self.model
        async with self.factory() as session, session.begin():
            head = (
                await session.execute(
                    select(m.id, m.attempts, m.next_attempt_at <= func.now())
                    .where(m.destination == destination, m.parked_at.is_(None))
                    .order_by(m.id)
                    .limit(1)
                )
            ).first()
            if head is None or not head[2]:
                return 0
            # A dispatcher that starts during an outage resumes its backoff from the head.
            circuit = self._circuits.setdefault(destination, Circuit(failures=head[1]))
            query = select(m).where(m.destination == destination, m.parked_at.is_(None))
            if circuit.is_open:
                # Only the head is tried; if another dispatcher holds it, nothing is.
                query = query.where(m.id == head[0])
            claimed = (
                await session.scalars(
                    query.order_by(m.id)
                    .limit(circuit.claim_limit(self.batch_size))
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not claimed:
                return 0
            outcome = await self._deliver(client, list(claimed))
            if outcome.delivered:
                await session.execute(delete(m).where(m.id.in_([r.id for r in outcome.delivered])))
                OUTBOX_DELIVERED.labels(self.service).inc(len(outcome.delivered))
            for row, reason in outcome.parked:
                row.attempts += 1
                row.last_error = reason[:2000]
                row.parked_at = func.now()
                _log.warning(
                    "outbox_message_parked",
                    destination=destination,
                    message_id=str(row.message_id),
                    error=reason,
                )
            if outcome.error is None:
                circuit.succeeded()
            else:
                circuit.failed()
                OUTBOX_FAILURES.labels(self.service).inc()
                delay = circuit.delay(base=self.backoff_base, cap=self.backoff_cap)
                _log.warning(
                    "outbox_delivery_failed",
                    destination=destination,
                    error=outcome.error,
                    consecutive_failures=circuit.failures,
                    retry_in_seconds=round(delay, 3),
                )
                for row in outcome.waiting:
                    row.attempts += 1
                    row.last_error = outcome.error[:2000]
                    row.next_attempt_at = func.now() + timedelta(seconds=delay)
            return len(outcome.delivered)

    async def _deliver(self, client: ServiceClient, rows: list[OutboxMixin]) -> _Outcome:
        """Post ``rows`` in order, splitting a refused group until each refusal is one message."""
        outcome = _Outcome()
        groups = [rows]
        while groups:
            group = groups.pop(0)
            status, text = await self._post(client, group)
            judged = Verdict.RETRY if status is None else verdict(status)
            if judged is Verdict.RETRY:
                outcome.waiting = [r for g in (group, *groups) for r in g]
                outcome.error = text if status is None else f"HTTP {status}: {text[:1500]}"
                return outcome
            if judged is Verdict.DELIVERED:
                outcome.delivered.extend(group)
                continue
            if len(group) == 1:
                outcome.parked.append((group[0], f"HTTP {status}: {text[:1500]}"))
                continue
            named = refused_messages(_json_or_none(text), len(group))
            if named:
                outcome.parked.extend((group[i], f"HTTP {status}: {named[i]}") for i in named)
                rest = [r for i, r in enumerate(group) if i not in named]
                if rest:
                    groups.insert(0, rest)
            else:
                half = len(group) // 2
                groups[:0] = [group[:half], group[half:]]
        return outcome

    async def _post(
        self, client: ServiceClient, rows: Sequence[OutboxMixin]
    ) -> tuple[int | None, str]:
        """Send one delivery: the answer's status and body, or None and why none came."""
        # Built unvalidated, as stored: the receiver, not the sender, judges a message.
        body = Delivery.model_construct(
            messages=[
                Message.model_construct(
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
            return None, f"{type(exc).__name__}: {exc}"
        finally:
            reset_request_id(token)
        return response.status_code, response.text

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


class ParkedFilter(BaseModel):
    """Which parked messages a bulk retry puts back in line; every given condition holds."""

    model_config = ConfigDict(extra="forbid")

    destination: StorableText | None = Field(default=None, min_length=1, max_length=40)
    topic: StorableText | None = Field(default=None, min_length=1, max_length=80)
    parked_from: Instant | None = Field(default=None, description="Parked at or after")
    parked_to: Instant | None = Field(default=None, description="Parked before")
    error_contains: StorableText | None = Field(
        default=None, min_length=1, max_length=500, description="Case-insensitive"
    )


class RetryCount(BaseModel):
    """How many parked messages a bulk retry put back in line."""

    retried: int


async def retry_parked_matching(
    session: AsyncSession, model: type[OutboxMixin], where: ParkedFilter
) -> RetryCount:
    """Put every parked message matching ``where`` back in line; says how many."""
    m = model
    conditions: list[ColumnElement[bool]] = [m.parked_at.is_not(None)]
    if where.destination is not None:
        conditions.append(m.destination == where.destination)
    if where.topic is not None:
        conditions.append(m.topic == where.topic)
    if where.parked_from is not None:
        conditions.append(m.parked_at >= where.parked_from)
    if where.parked_to is not None:
        conditions.append(m.parked_at < where.parked_to)
    if where.error_contains is not None:
        conditions.append(m.last_error.icontains(where.error_contains, autoescape=True))
    result = await session.execute(
        update(m)
        .where(*conditions)
        .values(parked_at=None, attempts=0, next_attempt_at=func.now())
        .returning(m.id)
    )
    return RetryCount(retried=len(result.scalars().all()))
