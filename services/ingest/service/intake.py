"""The intake every event source shares (native events, Segment, replays): events as read,
stored once, rolled up and attributed, refusals kept with their reason."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.domain.events import (
    Event,
    InvalidEvent,
    Rejection,
    alias_calls,
    as_aliased,
    check_storable,
    clean_text,
    storable,
    without_secrets,
)
from services.ingest.repository import accounts as accounts_repo
from services.ingest.repository import events as events_repo
from services.ingest.repository import rejected as rejected_repo
from services.ingest.repository import users as users_repo
from services.ingest.schemas.batches import RejectedItem
from services.ingest.schemas.events import EventBatchResult
from services.ingest.service.changes import notify_changed
from services.ingest.service.config import current_event_map
from services.ingest.service.users import attribute_pending_events


@dataclass(frozen=True)
class Parsed:
    """One event of a batch as read: validated, or why not, and how to read it again.

    ``segment_endpoint`` (``batch``, or the single-call endpoint whose type a message without
    ``type`` takes) and the batch's ``sentAt`` are kept with a rejected Segment message so a
    replay reads it as its request did.
    """

    index: int
    raw: Any
    outcome: Event | InvalidEvent
    segment_endpoint: str | None = None
    batch_sent_at: datetime | None = None


def encoded_size(raw: Any, check_nul: bool) -> int:
    """The size of a message as JSON; refuses one PostgreSQL or the JSON encoder cannot keep.

    ``check_nul`` (the body holds a ``\\u0000``) walks the whole message. Otherwise the
    encoding, needed anyway, is the check: orjson refuses lone surrogates and nesting past
    255 levels, and only then is the message walked to name the field at fault.
    """
    if check_nul:
        check_storable(raw)
    try:
        return len(orjson.dumps(raw))
    except orjson.JSONEncodeError:
        check_storable(raw)
        raise InvalidEvent("", "cannot be stored as JSON") from None


async def accept_events(
    session: AsyncSession,
    *,
    parsed: Sequence[Parsed],
    source_label: str,
    source_id: uuid.UUID | None,
    require_known_account: bool = True,
    keep_rejections: bool = True,
) -> EventBatchResult:
    """Store a batch event by event: new ones are kept and rolled up, repeats counted,
    refused ones kept with their reason.

    ``parsed`` holds, per event, its index in the batch, its raw body and either the
    validated event or why it was refused (and how a replay must read the body again).
    """
    rejections: list[tuple[Rejection, Parsed]] = []
    valid: list[tuple[int, Parsed, Event]] = []
    for item in parsed:
        outcome = item.outcome
        if isinstance(outcome, InvalidEvent):
            reason, field = clean_text(outcome.reason), clean_text(outcome.field)[:200]
            rejections.append((Rejection(item.index, _raw_id(item.raw), reason, field), item))
        else:
            valid.append((item.index, item, outcome))

    # An id that was aliased (in this batch, or before) sends as the user it was aliased to.
    batch_aliases = alias_calls(e for _, _, e in valid)
    senders = {e.user_id or e.anonymous_id or "" for _, _, e in valid if e.type != "alias"}
    stored_aliases = await users_repo.aliases_of(session, senders - {""} - set(batch_aliases))
    aliases = {**stored_aliases, **batch_aliases}
    valid = [(i, raw, as_aliased(e, aliases)) for i, raw, e in valid]

    # Users linked by group calls in this very batch, then by what is stored.
    batch_links = {e.user_id: e.group_id for _, _, e in valid if e.group_id and e.user_id}
    unresolved = {e.user_id for _, _, e in valid if e.account_id is None and e.user_id}
    stored_links = await users_repo.user_accounts(session, unresolved - set(batch_links))
    links = {**stored_links, **batch_links}
    valid = [
        (
            i,
            raw,
            e if e.account_id or not e.user_id else replace(e, account_id=links.get(e.user_id)),
        )
        for i, raw, e in valid
    ]

    if require_known_account:
        named = {e.account_id for _, _, e in valid if e.account_id}
        known = await accounts_repo.existing_account_ids(session, named)
        still_valid = []
        for i, raw, e in valid:
            if e.account_id is not None and e.account_id not in known:
                field = "groupId" if e.group_id else "account_id"
                reason = f"unknown account '{e.account_id}'"
                rejections.append((Rejection(i, e.id, reason, field), raw))
            else:
                still_valid.append((i, raw, e))
        valid = still_valid

    unique: dict[str, Event] = {}
    for _, _, e in valid:
        unique.setdefault(e.id, e)
    event_map = await current_event_map(session)
    new = await events_repo.insert_events(session, list(unique.values()), source_id, event_map)
    notify_changed(session, {account for _, account in new if account is not None})
    await _apply_side_effects(session, [unique[event_id] for event_id, _ in new])

    if keep_rejections:
        await rejected_repo.insert_rejections(
            session,
            [
                {
                    "source": source_label,
                    "event_id": r.id,
                    "reason": r.reason,
                    "field": r.field,
                    "raw": storable(without_secrets(item.raw)),
                    "segment_endpoint": item.segment_endpoint,
                    "batch_sent_at": item.batch_sent_at,
                }
                for r, item in rejections
            ],
        )
    rejections.sort(key=lambda pair: pair[0].index)
    return EventBatchResult(
        accepted=len(new),
        duplicates=len(valid) - len(new),
        rejected=[
            RejectedItem(index=r.index, id=r.id, reason=r.reason, field=r.field)
            for r, _ in rejections
        ],
    )


async def _apply_side_effects(session: AsyncSession, new_events: Sequence[Event]) -> None:
    """Identify calls update user traits; group calls link users to accounts; alias calls
    make an id's unattributed events its user's (attributed now if the user is linked)."""
    links: dict[str, str] = {}
    for e in new_events:
        if e.type == "identify" and e.user_id:
            await users_repo.merge_user_traits(session, e.user_id, e.traits, e.account_id)
            if e.account_id:
                links[e.user_id] = e.account_id
        elif e.type == "group" and e.user_id and e.group_id:
            await users_repo.merge_user_traits(session, e.user_id, {}, e.group_id)
            links[e.user_id] = e.group_id
    aliases = alias_calls(new_events)
    if aliases:
        await users_repo.record_aliases(session, aliases)
        await events_repo.adopt_unattributed(session, aliases)
        links.update(await users_repo.user_accounts(session, set(aliases.values()) - set(links)))
    await attribute_pending_events(session, links)


def _raw_id(raw: Any) -> str | None:
    if isinstance(raw, dict):
        for key in ("id", "messageId"):
            value = raw.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool):
                return clean_text(str(value)[:200])
    return None
