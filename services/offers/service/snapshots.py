"""What scoring tells offers: ``snapshot.changed``, kept newest per account.

Received with the ledger's messages by ``service.notifications``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.offers.models import AccountSnapshot
from services.offers.repository import snapshots as repo
from services.offers.schemas.snapshots import KeptSnapshot
from shared.contracts import SnapshotChanged
from shared.errors import NotScored
from shared.outbox import Message
from shared.pagination import Page, PageRequest

Position = tuple[str]  # (account_id,)


async def keep_snapshots(
    session: AsyncSession, read: Sequence[tuple[Message, SnapshotChanged]], now: datetime
) -> list[dict[str, Any]]:
    """Keep each account's newest announced snapshot (the caller has dropped messages
    already processed); returns those kept (in their JSON form), not those older than one
    already kept."""
    rows = []
    for m, message in read:
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
    return [row["snapshot"] for row in await repo.keep_newest(session, rows)]


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
