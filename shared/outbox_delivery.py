"""Delivering an outbox: the dispatcher, its retry rules, and the circuit per destination.

See ``shared.outbox`` for what a message is and how it is written; this module is the
sender's background side: claim due messages, post them, delete what was acknowledged,
retry what failed (for as long as it takes) and park only what the receiver refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from typing import Any

import httpx
import structlog
from sqlalchemy import (
    delete,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.http import ServiceClient
from shared.logging import new_request_id, reset_request_id, set_request_id
from shared.metrics import (
    OUTBOX_BACKLOG,
    OUTBOX_DELIVERED,
    OUTBOX_FAILURES,
    OUTBOX_OLDEST_AGE,
)
from shared.outbox import NOTIFICATIONS_PATH, Delivery, Message, OutboxMixin

_log = structlog.get_logger("tenure.outbox")


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
