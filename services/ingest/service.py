"""Ingest's use cases: validate, store, roll up and notify, within the request's unit of work."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest import repository as repo
from services.ingest.domain.events import Event, InvalidEvent, Rejection
from services.ingest.domain.rollups import DEFAULT_EVENT_MAP, Activity, EventMap, aggregate
from services.ingest.models import Account, Outbox, Source, User
from services.ingest.schemas import (
    AccountBatchItem,
    AccountFields,
    AccountOut,
    AccountSignals,
    BatchUpsertResult,
    EventBatchResult,
    EventMapDocument,
    EventMapOut,
    RejectedItem,
    RollupOut,
    SignalsQuery,
    SignalsResponse,
    SourceCreate,
    SourceWithSecret,
    UserBatchItem,
    UserFields,
)
from shared.auth import hash_key
from shared.errors import Conflict, NotFound
from shared.outbox import enqueue

ACCOUNTS_CHANGED = "accounts.changed"


def notify_changed(session: AsyncSession, account_ids: set[str]) -> None:
    """Tell scoring, in this transaction, which accounts' signals changed (one message)."""
    if account_ids:
        enqueue(session, Outbox, "scoring", ACCOUNTS_CHANGED, {"account_ids": sorted(account_ids)})


# --- accounts and users -------------------------------------------------------------------


async def upsert_account(
    session: AsyncSession, external_id: str, fields: AccountFields
) -> tuple[Account, bool]:
    """Create or replace one account; returns it and whether it was created."""
    return await _upsert_one_account(session, external_id, fields.model_dump())


async def _upsert_one_account(
    session: AsyncSession, external_id: str, fields: dict[str, Any]
) -> tuple[Account, bool]:
    (created,) = await repo.upsert_accounts(session, [{"external_id": external_id, **fields}])
    notify_changed(session, {external_id})
    account = await repo.get_account(session, external_id)
    assert account is not None
    await session.refresh(account)
    return account, created


async def upsert_accounts(
    session: AsyncSession, items: Sequence[AccountBatchItem]
) -> BatchUpsertResult:
    """Create or replace a batch of accounts in one transaction (last one wins per id)."""
    latest = {item.external_id: item.model_dump() for item in items}
    flags = await repo.upsert_accounts(session, list(latest.values()))
    notify_changed(session, set(latest))
    created = sum(flags)
    return BatchUpsertResult(created=created, updated=len(flags) - created)


async def upsert_user(
    session: AsyncSession, external_id: str, fields: UserFields
) -> tuple[User, bool]:
    """Create or replace one user; linking it to an account attributes its pending events."""
    (created,) = await repo.upsert_users(
        session, [{"external_id": external_id, **fields.model_dump()}]
    )
    if fields.account_id is not None:
        await _attribute(session, {external_id: fields.account_id})
    user = await repo.get_user(session, external_id)
    assert user is not None
    await session.refresh(user)
    return user, created


async def upsert_users(session: AsyncSession, items: Sequence[UserBatchItem]) -> BatchUpsertResult:
    """Create or replace a batch of users in one transaction."""
    latest = {item.external_id: item.model_dump() for item in items}
    flags = await repo.upsert_users(session, list(latest.values()))
    links = {u: f["account_id"] for u, f in latest.items() if f["account_id"] is not None}
    await _attribute(session, links)
    created = sum(flags)
    return BatchUpsertResult(created=created, updated=len(flags) - created)


async def _attribute(session: AsyncSession, links: dict[str, str]) -> None:
    """Attribute newly linked users' pending events and roll them up."""
    activities = await repo.attribute_pending(session, links)
    if activities:
        event_map = await current_event_map(session)
        await repo.apply_rollups(session, aggregate(activities, event_map))
        notify_changed(session, {a.account_id for a in activities})


# --- events -------------------------------------------------------------------------------


async def current_event_map(session: AsyncSession) -> EventMap:
    """The event map in force (the built-in default until one is set)."""
    row = await repo.latest_event_map(session)
    return DEFAULT_EVENT_MAP if row is None else EventMap.from_document(row.document)


async def accept_events(
    session: AsyncSession,
    *,
    parsed: Sequence[tuple[int, Any, Event | InvalidEvent]],
    source_label: str,
    source_id: uuid.UUID | None,
    require_known_account: bool = True,
) -> EventBatchResult:
    """Store a batch event by event: new ones are kept and rolled up, repeats counted,
    refused ones kept with their reason.

    ``parsed`` holds, per event, its index in the batch, its raw body and either the
    validated event or why it was refused.
    """
    rejections: list[tuple[Rejection, Any]] = []
    valid: list[tuple[int, Any, Event]] = []
    for index, raw, outcome in parsed:
        if isinstance(outcome, InvalidEvent):
            rejections.append((Rejection(index, _raw_id(raw), outcome.reason, outcome.field), raw))
        else:
            valid.append((index, raw, outcome))

    # Users linked by group calls in this very batch, then by what is stored.
    batch_links = {e.user_id: e.group_id for _, _, e in valid if e.group_id and e.user_id}
    unresolved = {e.user_id for _, _, e in valid if e.account_id is None and e.user_id}
    stored_links = await repo.user_accounts(session, unresolved - set(batch_links))
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
        known = await repo.existing_account_ids(session, named)
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
    new_ids = await repo.insert_events(session, list(unique.values()), source_id)
    new_events = [unique[i] for i in sorted(new_ids)]

    await _apply_side_effects(session, new_events)
    activities = [
        Activity(e.account_id, e.user_id, e.name, e.timestamp)
        for e in new_events
        if e.account_id is not None
    ]
    if activities:
        await repo.apply_rollups(session, aggregate(activities, await current_event_map(session)))
        notify_changed(session, {a.account_id for a in activities})

    await repo.insert_rejections(
        session,
        [
            {
                "source": source_label,
                "event_id": r.id,
                "reason": r.reason,
                "field": r.field,
                "raw": raw,
            }
            for r, raw in rejections
        ],
    )
    rejections.sort(key=lambda pair: pair[0].index)
    return EventBatchResult(
        accepted=len(new_ids),
        duplicates=len(valid) - len(new_ids),
        rejected=[
            RejectedItem(index=r.index, id=r.id, reason=r.reason, field=r.field)
            for r, _ in rejections
        ],
    )


async def _apply_side_effects(session: AsyncSession, new_events: Sequence[Event]) -> None:
    """Identify calls update user traits; group calls link users to accounts."""
    links: dict[str, str] = {}
    for e in new_events:
        if e.type == "identify" and e.user_id:
            await repo.merge_user_traits(session, e.user_id, e.traits, e.account_id)
            if e.account_id:
                links[e.user_id] = e.account_id
        elif e.type == "group" and e.user_id and e.group_id:
            await repo.merge_user_traits(session, e.user_id, {}, e.group_id)
            links[e.user_id] = e.group_id
    await _attribute(session, links)


def _raw_id(raw: Any) -> str | None:
    if isinstance(raw, dict):
        for key in ("id", "messageId"):
            value = raw.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool):
                return str(value)[:200]
    return None


# --- sources ------------------------------------------------------------------------------


def _new_secret(kind: str) -> tuple[str | None, str | None]:
    """(write key, signing secret) for a source of ``kind``."""
    if kind == "segment":
        return "wk_" + secrets.token_urlsafe(24), None
    if kind == "standard_webhooks":
        return None, "whsec_" + secrets.token_urlsafe(32)
    return None, "whsec_" + secrets.token_hex(24)


async def create_source(session: AsyncSession, body: SourceCreate) -> SourceWithSecret:
    """A new source with a fresh write key or signing secret, shown this once."""
    write_key, signing_secret = _new_secret(body.kind)
    source = Source(
        id=uuid.uuid4(),
        kind=body.kind,
        name=body.name,
        write_key_hash=hash_key(write_key) if write_key else None,
        signing_secret=signing_secret,
    )
    await repo.add_source(session, source)
    return SourceWithSecret.model_validate(
        {**_source_dict(source), "write_key": write_key, "signing_secret": signing_secret}
    )


async def rotate_source(session: AsyncSession, source_id: uuid.UUID) -> SourceWithSecret:
    """A new secret for a source; a webhook source's previous secret stays valid as well."""
    source = await repo.get_source(session, source_id)
    if source is None:
        raise NotFound(f"No source {source_id}.")
    if source.disabled_at is not None:
        raise Conflict("The source is disabled.")
    write_key, signing_secret = _new_secret(source.kind)
    if write_key:
        source.write_key_hash = hash_key(write_key)
    else:
        source.previous_signing_secret = source.signing_secret
        source.signing_secret = signing_secret
    source.rotated_at = datetime.now(UTC)
    await session.flush()
    return SourceWithSecret.model_validate(
        {**_source_dict(source), "write_key": write_key, "signing_secret": signing_secret}
    )


def _source_dict(source: Source) -> dict[str, Any]:
    return {
        "id": source.id,
        "kind": source.kind,
        "name": source.name,
        "disabled_at": source.disabled_at,
        "created_at": source.created_at,
        "rotated_at": source.rotated_at,
    }


# --- event map and signals ----------------------------------------------------------------


async def get_event_map(session: AsyncSession) -> EventMapOut:
    """The event map in force, with its version (0 for the built-in default)."""
    row = await repo.latest_event_map(session)
    if row is None:
        return EventMapOut(
            **DEFAULT_EVENT_MAP.to_document(), version=0, created_at=None, created_by="default"
        )
    return EventMapOut(
        **row.document, version=row.version, created_at=row.created_at, created_by=row.created_by
    )


async def set_event_map(
    session: AsyncSession, body: EventMapDocument, created_by: str
) -> EventMapOut:
    """Store a new event map version; it applies to events accepted from now on."""
    document = EventMap.from_document(body.model_dump()).to_document()
    row = await repo.add_event_map(session, document, created_by)
    return EventMapOut(
        **row.document, version=row.version, created_at=row.created_at, created_by=row.created_by
    )


async def query_signals(session: AsyncSession, query: SignalsQuery) -> SignalsResponse:
    """Account facts plus the last ``days`` rollups for each account, in one round trip."""
    last_day = query.as_of or datetime.now(UTC).date()
    first_day: date = last_day - timedelta(days=query.days - 1)
    ids = list(dict.fromkeys(query.account_ids))
    accounts = await repo.accounts_by_id(session, ids)
    rollups: dict[str, list[RollupOut]] = {i: [] for i in ids}
    for row in await repo.rollups_for(session, ids, first_day, last_day):
        rollups[row.account_id].append(RollupOut.model_validate(row))
    return SignalsResponse(
        accounts=[
            AccountSignals(
                account_id=i,
                account=AccountOut.model_validate(accounts[i]) if i in accounts else None,
                rollups=rollups[i],
            )
            for i in ids
        ]
    )
