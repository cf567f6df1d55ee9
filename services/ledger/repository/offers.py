"""What the ledger keeps of offers' requests: offers serialised while their requests are
applied, revoked offers, and the grants an offer received."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ledger.models import LedgerTransaction, OfferRevocation
from shared.contracts import RevokeRequested

# The first key of the two-key advisory locks an offer's requests hold (a key space apart
# from the single-key locks idempotency keys hold).
_OFFER_LOCK_SPACE = 0x0FFE


async def lock_offers(session: AsyncSession, offer_ids: Sequence[str]) -> None:
    """Hold each offer's lock until the session's transaction ends, in id order (so two
    deliveries naming the same offers cannot deadlock).

    A grant request and a revoke of one offer then never interleave: whoever comes second
    sees what the first committed (its grant, or its revocation).
    """
    if not offer_ids:
        return
    await session.execute(
        text(
            "SELECT count(pg_advisory_xact_lock(:space, hashtext(o)))"
            " FROM unnest(CAST(:ids AS text[])) AS o"
        ),
        {"space": _OFFER_LOCK_SPACE, "ids": sorted(set(offer_ids))},
    )


async def revoked_among(session: AsyncSession, offer_ids: Sequence[str]) -> set[str]:
    """Which of these offers have been revoked."""
    if not offer_ids:
        return set()
    rows = await session.scalars(
        select(OfferRevocation.offer_id).where(OfferRevocation.offer_id.in_(set(offer_ids)))
    )
    return set(rows)


async def record_revocation(
    session: AsyncSession, message_id: uuid.UUID, revoke: RevokeRequested
) -> None:
    """Keep an offer as revoked (its first revocation; a repeat changes nothing)."""
    await session.execute(
        insert(OfferRevocation)
        .values(
            offer_id=revoke.offer_id,
            message_id=message_id,
            reason=revoke.reason,
            requested_by=revoke.requested_by,
            requested_at=revoke.requested_at,
        )
        .on_conflict_do_nothing()
    )


async def grants_of(session: AsyncSession, offer_id: str) -> list[uuid.UUID]:
    """The grant transactions that carry this offer (one, when only offers grants for it)."""
    rows = await session.scalars(
        select(LedgerTransaction.id)
        .where(LedgerTransaction.offer_id == offer_id, LedgerTransaction.kind == "grant")
        .order_by(LedgerTransaction.created_at, LedgerTransaction.id)
    )
    return list(rows)
