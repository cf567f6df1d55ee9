"""Messages other services deliver to offers: scoring's ``snapshot.changed`` and the
ledger's ``credit.moved``, each processed once (the inbox drops a message id seen before)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.offers.models import Inbox
from services.offers.service.credits import apply_credit_moves
from services.offers.service.evaluation import evaluate_snapshots
from services.offers.service.snapshots import keep_snapshots
from shared.contracts import CREDIT_MOVED, SNAPSHOT_CHANGED, CreditMoved, SnapshotChanged
from shared.outbox import (
    Delivery,
    DeliveryAck,
    acknowledgement,
    fresh_messages,
    read_delivery,
    record_new,
)


async def receive(session: AsyncSession, delivery: Delivery, sender: str) -> DeliveryAck:
    """Keep the snapshots and apply the credit movements of messages not seen before, and
    decide every live program on each snapshot kept (``sender`` proposes the offers); a
    message of another topic is acknowledged and ignored, one that does not read as its
    contract says is refused (422, naming it, so the sender parks it alone)."""
    snapshots = read_delivery(delivery, SNAPSHOT_CHANGED, SnapshotChanged)
    moves = read_delivery(delivery, CREDIT_MOVED, CreditMoved)
    new = await record_new(session, Inbox, delivery.messages)
    fresh = fresh_messages(delivery.messages, new)
    taken = {id(m) for m in fresh}
    now = datetime.now(UTC)
    kept = await keep_snapshots(session, [(m, s) for m, s in snapshots if id(m) in taken], now)
    await evaluate_snapshots(session, kept, sender, now)
    await apply_credit_moves(session, [c for m, c in moves if id(m) in taken], now)
    return acknowledgement(delivery.messages, fresh)
