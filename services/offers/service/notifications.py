"""Messages other services deliver to offers: scoring's ``snapshot.changed`` and the
ledger's ``credit.moved``, each processed once (the inbox drops a message id seen before)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.offers.models import Inbox
from services.offers.service.credits import apply_credit_moves
from services.offers.service.evaluation import evaluate_snapshots
from services.offers.service.snapshots import keep_snapshots
from shared.auth import Principal
from shared.contracts import CREDIT_MOVED, SNAPSHOT_CHANGED, CreditMoved, SnapshotChanged
from shared.errors import FieldError, Unprocessable
from shared.outbox import (
    Delivery,
    DeliveryAck,
    Message,
    acknowledgement,
    check_senders,
    fresh_messages,
    read_delivery,
    record_new,
)
from shared.settings import service_principal

# Whose messages of each topic are believed.
SENDERS = {
    SNAPSHOT_CHANGED: service_principal("scoring"),
    CREDIT_MOVED: service_principal("ledger"),
}


async def receive(session: AsyncSession, delivery: Delivery, sender: Principal) -> DeliveryAck:
    """Keep the snapshots and apply the credit movements of messages not seen before, and
    decide every live program on each snapshot kept (``sender`` proposes the offers); a
    message of another topic is acknowledged and ignored, one that does not read as its
    contract says is refused (422, naming it, so the sender parks it alone)."""
    check_senders(delivery, sender.name, sender.allows("admin"), SENDERS)
    snapshots = read_delivery(delivery, SNAPSHOT_CHANGED, SnapshotChanged)
    moves = read_delivery(delivery, CREDIT_MOVED, CreditMoved)
    now = datetime.now(UTC)
    _refuse_future_snapshots(delivery, snapshots, now)
    new = await record_new(session, Inbox, delivery.messages)
    fresh = fresh_messages(delivery.messages, new)
    taken = {id(m) for m in fresh}
    kept = await keep_snapshots(session, [(m, s) for m, s in snapshots if id(m) in taken], now)
    await evaluate_snapshots(session, kept, sender.name, now)
    await apply_credit_moves(session, [c for m, c in moves if id(m) in taken], now)
    return acknowledgement(delivery.messages, fresh)


# How far ahead of offers' clock a snapshot's time may be (clocks differ a little).
CLOCK_SKEW = timedelta(minutes=5)


def _refuse_future_snapshots(
    delivery: Delivery, snapshots: Sequence[tuple[Message, SnapshotChanged]], now: datetime
) -> None:
    """A snapshot computed in the future would be kept over every real one after it: refuse
    it (422, pointing at its time), so scoring's outbox parks it alone."""
    index = {id(m): i for i, m in enumerate(delivery.messages)}
    errors = [
        FieldError(
            detail=f"is later than offers' clock ({now.isoformat()}) by more than {CLOCK_SKEW}",
            pointer=f"/messages/{index[id(m)]}/payload/snapshot/computed_at",
        )
        for m, changed in snapshots
        if changed.snapshot.computed_at > now + CLOCK_SKEW
    ]
    if errors:
        raise Unprocessable("A snapshot was computed in the future.", errors=errors)
