"""What the limits read before an offer is made: the accounts' offers so far, and a lock on
each account while new ones are made, so two evaluations of one account (in any process)
cannot both pass its cooldown."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import cast

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.offers.domain.decisions import PastOffer
from services.offers.domain.offers import OfferState
from services.offers.models import Offer
from shared.arrays import text_array


async def past_offers(
    session: AsyncSession, account_ids: Iterable[str], since: datetime
) -> dict[str, list[PastOffer]]:
    """Each account's offers created after ``since`` (from every program)."""
    ids = sorted(set(account_ids))
    history: dict[str, list[PastOffer]] = defaultdict(list)
    if not ids:
        return history
    rows = await session.execute(
        select(
            Offer.account_id,
            Offer.program_id,
            Offer.created_at,
            Offer.value_minor,
            Offer.released_minor,
            Offer.state,
        ).where(Offer.account_id == func.any(text_array(ids)), Offer.created_at > since)
    )
    for account_id, program_id, created_at, value, released, state in rows:
        history[account_id].append(
            PastOffer(program_id, created_at, value, released, cast(OfferState, state))
        )
    return history


async def lock_accounts(session: AsyncSession, account_ids: Iterable[str]) -> None:
    """Hold each account's offer lock until the transaction ends (taken in id order, so
    concurrent evaluations never deadlock on them)."""
    ids = sorted(set(account_ids))
    if ids:
        await session.execute(_LOCK, {"space": _LOCK_SPACE, "ids": ids})


# Sorted in a subquery, so the locks are taken in that order.
_LOCK = text(
    "SELECT pg_advisory_xact_lock(:space, hashtext(a))"
    " FROM (SELECT a FROM unnest(CAST(:ids AS text[])) AS a ORDER BY a) AS sorted"
)
# The first key of the two-key advisory locks offers takes (an arbitrary constant of its own).
_LOCK_SPACE = 7_311
