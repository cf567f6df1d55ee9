"""Rejected events: replayed once fixable."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.models import RejectedEvent
from services.ingest.repository import rejected as rejected_repo
from services.ingest.repository import webhooks as webhooks_repo
from services.ingest.schemas.rejected import RejectedOut, ReplayFilter, ReplayOutcome, ReplayResult
from services.ingest.service.audit import record
from services.ingest.service.billing import apply_webhook, webhook_account, webhook_row
from services.ingest.service.events import parse_native
from services.ingest.service.intake import accept_events
from services.ingest.service.segment import parse_segment
from shared.errors import Conflict, NotFound
from shared.pagination import Page, PageRequest

Position = tuple[int]  # (id,)


async def replay_rejected(
    session: AsyncSession, rows: Sequence[RejectedEvent], max_message_bytes: int
) -> ReplayResult:
    """Run kept rejected events through intake again (e.g. once their account exists).

    An event accepted now, or found stored already, marks its row resolved; one refused
    again keeps its row with the new reason. No second rejection row is filed.
    """
    items: list[ReplayOutcome] = []
    now = datetime.now(UTC)
    for row in rows:
        source_id: uuid.UUID | None = None
        if row.source.startswith("webhook:"):
            items.append(await _replay_webhook(session, row, now))
            continue
        if row.source.startswith("segment:"):
            source_id = uuid.UUID(row.source.removeprefix("segment:"))
            # Rows kept before the endpoint was recorded came from single track calls.
            endpoint = row.segment_endpoint or "track"
            parsed = parse_segment(
                row.raw,
                0,
                default_type=None if endpoint == "batch" else endpoint,
                received_at=row.received_at,
                batch_sent_at=row.batch_sent_at,
                max_message_bytes=max_message_bytes,
            )
        else:
            parsed = parse_native(row.raw, 0, now)
        result = await accept_events(
            session,
            parsed=[parsed],
            source_label=row.source,
            source_id=source_id,
            keep_rejections=False,
        )
        row.replays += 1
        if result.rejected:
            row.reason, row.field = result.rejected[0].reason, result.rejected[0].field
            items.append(ReplayOutcome(id=row.id, outcome="rejected", reason=row.reason))
        else:
            row.resolved_at = now
            items.append(
                ReplayOutcome(id=row.id, outcome="accepted" if result.accepted else "duplicate")
            )
    await session.flush()
    return ReplayResult(
        accepted=sum(i.outcome == "accepted" for i in items),
        duplicates=sum(i.outcome == "duplicate" for i in items),
        rejected=sum(i.outcome == "rejected" for i in items),
        items=items,
    )


async def _replay_webhook(
    session: AsyncSession, row: RejectedEvent, now: datetime
) -> ReplayOutcome:
    """Apply a rejected webhook event again; without its account it waits, pending, again."""
    row.replays += 1
    source_id = uuid.UUID(row.source.removeprefix("webhook:"))
    stored = (
        None
        if row.event_id is None
        else await webhooks_repo.webhook_event_for_replay(session, source_id, row.event_id)
    )
    if stored is None or stored.applied_at is not None:
        row.resolved_at = now
        return ReplayOutcome(id=row.id, outcome="duplicate")
    account = await webhook_account(session, stored.provider, stored.customer_ref)
    problem = (
        None if account is None else await apply_webhook(session, webhook_row(stored), account)
    )
    if problem is not None:
        await webhooks_repo.mark_webhook(session, source_id, stored.event_id, applied=False)
        row.reason, row.field = problem.reason, problem.field
        return ReplayOutcome(id=row.id, outcome="rejected", reason=row.reason)
    row.resolved_at = now
    return ReplayOutcome(id=row.id, outcome="accepted")


async def replay_matching(
    session: AsyncSession, body: ReplayFilter, max_message_bytes: int, principal: str
) -> ReplayResult:
    """Replay the unresolved rejected events a filter matches (at most ``limit``, oldest
    first); rows another replay holds are skipped, so no event is replayed twice at once.
    Recorded as ``principal``'s (the filter and what came of it)."""
    rows = await rejected_repo.list_rejections(
        session,
        source=body.source,
        reason_contains=body.reason_contains,
        resolved=False,
        limit=body.limit,
        for_replay=True,
    )
    result = await replay_rejected(session, rows, max_message_bytes)
    subject = body.source or "every source"
    filters = body.model_dump(exclude_none=True)
    record(session, principal, "rejected.replayed", subject, {**filters, **_tally(result)})
    return result


def _tally(result: ReplayResult) -> dict[str, int]:
    # What came of a replay, for its audit record.
    return {
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "refused": result.rejected,
    }


async def replay_one(
    session: AsyncSession, rejected_id: int, max_message_bytes: int, principal: str
) -> ReplayOutcome:
    """Replay one kept rejected event, recorded as ``principal``'s."""
    row = await rejected_repo.rejection_for_replay(session, rejected_id)
    if row is None:
        raise NotFound(f"No rejected event {rejected_id}.")
    if row.resolved_at is not None:
        raise Conflict(f"Rejected event {rejected_id} was already resolved.")
    result = await replay_rejected(session, [row], max_message_bytes)
    detail = {"source": row.source, **_tally(result)}
    record(session, principal, "rejected.replayed", f"rejected event {rejected_id}", detail)
    return result.items[0]


async def list_rejected(
    session: AsyncSession,
    page: PageRequest[Position],
    *,
    source: str | None,
    reason_contains: str | None,
    resolved: bool | None,
) -> Page[RejectedOut]:
    """Rejected events, oldest first, filtered by source, reason, or whether resolved."""
    rows = await rejected_repo.list_rejections(
        session,
        source=source,
        reason_contains=reason_contains,
        resolved=resolved,
        after_id=page.after[0] if page.after else None,
        limit=page.limit + 1,
    )
    return page.page(rows, RejectedOut.model_validate, lambda r: (r.id,))
