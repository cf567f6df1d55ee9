"""Webhooks' SQL: verified webhook events, pending until applied or rejected."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.models import WebhookEvent


async def insert_webhook_event(session: AsyncSession, row: dict[str, Any]) -> bool:
    """Store a verified webhook once per source and event id; False for a repeat."""
    result = await session.execute(
        insert(WebhookEvent).values(**row).on_conflict_do_nothing().returning(WebhookEvent.event_id)
    )
    return result.scalar_one_or_none() is not None


async def mark_webhook(
    session: AsyncSession, source_id: uuid.UUID, event_id: str, *, applied: bool
) -> None:
    """Record that a webhook event took effect, or that it could not (rejected)."""
    state = {"applied_at": func.now()} if applied else {"rejected_at": func.now()}
    await session.execute(
        update(WebhookEvent)
        .where(WebhookEvent.source_id == source_id, WebhookEvent.event_id == event_id)
        .values(state)
    )


async def webhook_event_for_replay(
    session: AsyncSession, source_id: uuid.UUID, event_id: str
) -> WebhookEvent | None:
    """A stored webhook event, locked, pending again if it had been rejected (for a replay)."""
    return await session.scalar(
        update(WebhookEvent)
        .where(WebhookEvent.source_id == source_id, WebhookEvent.event_id == event_id)
        .values(rejected_at=None)
        .returning(WebhookEvent)
    )


async def pending_webhook_events(
    session: AsyncSession, provider: str, customer_refs: Sequence[str]
) -> Sequence[WebhookEvent]:
    """Webhook events waiting for these customers or accounts, oldest first, locked."""
    if not customer_refs:
        return []
    return (
        await session.scalars(
            select(WebhookEvent)
            .where(
                WebhookEvent.applied_at.is_(None),
                WebhookEvent.rejected_at.is_(None),
                WebhookEvent.provider == provider,
                WebhookEvent.customer_ref.in_(list(customer_refs)),
            )
            .order_by(WebhookEvent.occurred_at, WebhookEvent.source_id, WebhookEvent.event_id)
            .with_for_update()
        )
    ).all()
