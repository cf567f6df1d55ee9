"""What scoring tells offers: ``snapshot.changed``, kept newest per account.

Programs decide on them in the offers issue; until then offers records them, so that
scoring's outbox delivers to a real receiver that drops duplicates.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.offers.models import AccountSnapshot, Inbox
from services.offers.repository import snapshots as repo
from services.offers.schemas.snapshots import KeptSnapshot
from shared.contracts import SNAPSHOT_CHANGED, SnapshotChanged
from shared.errors import NotScored
from shared.outbox import (
    Delivery,
    DeliveryAck,
    acknowledgement,
    fresh_messages,
    read_delivery,
    record_new,
)
from shared.pagination import Page, PageRequest

Position = tuple[str]  # (account_id,)


async def receive(session: AsyncSession, delivery: Delivery) -> DeliveryAck:
    """Keep the snapshots of messages not seen before; a message of another topic is
    acknowledged and ignored, one that does not read as the contract says is refused (422,
    naming it, so the sender parks it alone)."""
    read = read_delivery(delivery, SNAPSHOT_CHANGED, SnapshotChanged)
    new = await record_new(session, Inbox, delivery.messages)
    fresh = fresh_messages(delivery.messages, new)
    taken = {id(m) for m in fresh}
    now = datetime.now(UTC)
    rows = []
    for m, message in read:
        if id(m) in taken:
            s = message.snapshot
            rows.append(
                repo.snapshot_row(
                    s.account_id,
                    s.computed_at,
                    s.model_dump(mode="json"),
                    list(message.changes),
                    m.id,
                    now,
                )
            )
    await repo.keep_newest(session, rows)
    return acknowledgement(delivery.messages, fresh)


def _kept(row: AccountSnapshot) -> KeptSnapshot:
    return KeptSnapshot.model_validate(
        {
            "account_id": row.account_id,
            "snapshot": row.snapshot,
            "changes": row.changes,
            "message_id": row.message_id,
            "received_at": row.received_at,
        }
    )


async def get_snapshot(session: AsyncSession, account_id: str) -> KeptSnapshot:
    """The newest snapshot offers has heard of for an account."""
    row = await repo.get_snapshot(session, account_id)
    if row is None:
        raise NotScored(f"Scoring has announced no snapshot of account {account_id!r}.")
    return _kept(row)


async def list_snapshots(session: AsyncSession, page: PageRequest[Position]) -> Page[KeptSnapshot]:
    """Kept snapshots by account id."""
    rows = await repo.list_snapshots(
        session, after=page.after[0] if page.after else None, limit=page.limit + 1
    )
    return page.page(rows, _kept, lambda r: (r.account_id,))
