"""What an admin does with an outbox: list its messages, put parked ones back in line."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import (
    ColumnElement,
    and_,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from shared.outbox import OutboxEntry, OutboxMixin
from shared.validation import Instant
from shared.validation import Text as StorableText


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
