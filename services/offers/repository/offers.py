"""Offers and their history: rows in, rows out; the caller's unit of work commits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.offers.models import Offer, OfferEvent


async def insert_offers(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Store new offers (column values of ``Offer``)."""
    if rows:
        await session.execute(insert(Offer), list(rows))


async def add_events(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Append steps to offers' stories (column values of ``OfferEvent``, without ``id``)."""
    if rows:
        await session.execute(insert(OfferEvent), list(rows))
