"""What the ledger tells offers about an offer's credit (``credit.moved``), applied to the offer.

Each movement is recorded in the offer's story with the ledger transaction's id and hash;
the offer's state follows (issued, redeemed, expired, revoked) where its state allows, and
what expires or is reversed unredeemed goes back to the program's budgets.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import cast

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.offers.domain.offers import OfferState, state_after_credit_move
from services.offers.repository import offers as repo
from services.offers.service.offers import (
    LEDGER,
    LEDGER_EVENT_PREFIX,
    event,
    recommit_spent,
    release,
)
from shared.contracts import CreditMoved

_log = structlog.get_logger("tenure.offers.credits")


def _offer_id(move: CreditMoved) -> uuid.UUID | None:
    try:
        return uuid.UUID(move.offer_id)
    except ValueError:
        return None


async def apply_credit_moves(
    session: AsyncSession, moves: Sequence[CreditMoved], now: datetime
) -> None:
    """Apply the ledger's movements in the order it made them (the caller has dropped
    messages already processed); each step is dated when the ledger made it, ``now`` is
    when offers heard of it. A movement of an offer offers does not know is logged and
    skipped: refusing it would park the ledger's outbox behind it for good."""
    ids = {move.offer_id: _offer_id(move) for move in moves}
    offers = await repo.lock_offers(session, [i for i in ids.values() if i is not None])
    # A ledger transaction is applied once, whatever message carried it.
    seen = await repo.ledger_transactions_of(session, list(offers))
    for move in moves:
        offer_id = ids[move.offer_id]
        offer = None if offer_id is None else offers.get(offer_id)
        if offer is not None and (offer.id, str(move.transaction_id)) in seen:
            _log.info("credit_moved_already_applied", transaction_id=str(move.transaction_id))
            continue
        if offer is None:
            _log.warning(
                "credit_moved_for_unknown_offer",
                offer_id=move.offer_id,
                kind=move.kind,
                transaction_id=str(move.transaction_id),
            )
            continue
        was = offer.state
        if move.kind == "grant":
            offer.granted_minor = move.amount_minor
        elif move.kind == "redemption":
            offer.redeemed_minor += move.amount_minor
        elif move.kind == "redemption_reversal":
            offer.redeemed_minor = max(0, offer.redeemed_minor - move.amount_minor)
        else:
            # Expired or reversed credit was never spent: its budget is free again. A
            # reversal offers asked for (a revoke) lands here too, the offer already revoked.
            await release(session, offer, move.amount_minor)
        await recommit_spent(session, offer)
        seen.add((offer.id, str(move.transaction_id)))
        offer.remaining_minor = move.remaining_minor
        offer.state = state_after_credit_move(
            cast(OfferState, offer.state), move.kind, offer.redeemed_minor
        )
        offer.updated_at = now
        detail = {
            "transaction_id": str(move.transaction_id),
            "hash": move.hash,
            "amount_minor": move.amount_minor,
            "remaining_minor": move.remaining_minor,
            "invoice_id": move.invoice_id,
        }
        # Why: the ledger's own reversal of a grant offers did not ask for says so.
        comment = (
            "the grant was reversed in the ledger"
            if move.kind == "reversal" and was != "revoked" and offer.state == "revoked"
            else None
        )
        step = event(
            offer, f"{LEDGER_EVENT_PREFIX}{move.kind}", LEDGER, move.effective_at, comment, detail
        )
        await repo.add_events(session, [step])
