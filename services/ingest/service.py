"""Ingest's use cases: validate, store, roll up and notify, within the request's unit of work."""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest import repository as repo
from services.ingest.domain.billing import (
    STRIPE_EVENTS,
    BillingChange,
    BillingEventError,
    check_applicable,
    generic_subscription_fields,
    stripe_change,
    stripe_customer,
)
from services.ingest.domain.events import (
    Event,
    InvalidEvent,
    Rejection,
    alias_calls,
    as_aliased,
    check_storable,
    clean_text,
    native_event,
    parse_timestamp,
    segment_event,
    storable,
    without_secrets,
)
from services.ingest.domain.rollups import DEFAULT_EVENT_MAP, EventMap
from services.ingest.domain.signatures import (
    MalformedSignature,
    SignatureError,
    signing_secrets,
    verify_standard,
    verify_stripe,
)
from services.ingest.domain.support import TicketState, TicketUpdate, apply_ticket_update
from services.ingest.models import (
    Account,
    Outbox,
    RejectedEvent,
    Source,
    StoredEvent,
    Ticket,
    User,
    WebhookEvent,
)
from services.ingest.schemas import (
    AccountBatchItem,
    AccountFields,
    AccountOut,
    AccountSignals,
    AccountSupport,
    BatchUpsertResult,
    EventBatchResult,
    EventMapDocument,
    EventMapOut,
    RebuildRequest,
    RebuildResult,
    RejectedItem,
    ReplayFilter,
    ReplayOutcome,
    ReplayResult,
    RollupOut,
    SignalsQuery,
    SignalsResponse,
    SourceCreate,
    SourceOut,
    SourceWithSecret,
    StoredEventOut,
    SurveyIn,
    SurveyLatest,
    SurveyOut,
    TicketIn,
    TicketOut,
    UserBatchItem,
    UserBatchResult,
    UserFields,
    UserOut,
    WebhookResult,
)
from shared.auth import hash_key
from shared.contracts import ACCOUNTS_CHANGED, AccountsChanged
from shared.errors import (
    Conflict,
    FieldError,
    InvalidSignature,
    MalformedSignatureHeader,
    NotFound,
    TenureError,
    Unauthorized,
    UnknownAccount,
    Unprocessable,
    database_error_message,
    database_error_state,
)
from shared.outbox import enqueue
from shared.ratelimit import RateLimiter
from shared.service import parse_json
from shared.validation import unstorable_at


def notify_changed(session: AsyncSession, account_ids: set[str]) -> None:
    """Tell scoring, in this transaction, which accounts' signals changed (one message)."""
    if account_ids:
        message = AccountsChanged(account_ids=sorted(account_ids))
        enqueue(session, Outbox, "scoring", ACCOUNTS_CHANGED, message.model_dump())


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
    await apply_pending_webhooks(session, [external_id])
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
    await apply_pending_webhooks(session, sorted(latest))
    created = sum(flags)
    return BatchUpsertResult(created=created, updated=len(flags) - created)


async def upsert_user(
    session: AsyncSession, external_id: str, fields: UserFields
) -> tuple[User, bool]:
    """Create or replace one user; linking it to an account attributes its pending events.

    A link to an account that does not exist is refused: attributing the user's events to
    it could not be undone.
    """
    if fields.account_id is not None:
        await _require_account(session, fields.account_id)
    (created,) = await repo.upsert_users(
        session, [{"external_id": external_id, **fields.model_dump()}]
    )
    if fields.account_id is not None:
        await _attribute(session, {external_id: fields.account_id})
    user = await repo.get_user(session, external_id)
    assert user is not None
    await session.refresh(user)
    return user, created


async def upsert_users(session: AsyncSession, items: Sequence[UserBatchItem]) -> UserBatchResult:
    """Create or replace a batch of users in one transaction (last one wins per id).

    An item linking to an account that does not exist is refused on its own; the others
    are applied.
    """
    known = await repo.existing_account_ids(
        session, {i.account_id for i in items if i.account_id is not None}
    )
    refused = [
        RejectedItem(
            index=index,
            id=item.external_id,
            reason=f"unknown account '{item.account_id}'",
            field="account_id",
        )
        for index, item in enumerate(items)
        if item.account_id is not None and item.account_id not in known
    ]
    skipped = {r.index for r in refused}
    latest = {
        item.external_id: item.model_dump()
        for index, item in enumerate(items)
        if index not in skipped
    }
    flags = await repo.upsert_users(session, list(latest.values())) if latest else []
    links = {u: f["account_id"] for u, f in latest.items() if f["account_id"] is not None}
    await _attribute(session, links)
    created = sum(flags)
    return UserBatchResult(created=created, updated=len(flags) - created, rejected=refused)


async def _attribute(session: AsyncSession, links: dict[str, str]) -> None:
    """Attribute newly linked users' pending events to their accounts and roll them up."""
    if links:
        event_map = await current_event_map(session)
        notify_changed(session, await repo.attribute_pending(session, links, event_map))


# --- events -------------------------------------------------------------------------------


async def current_event_map(session: AsyncSession) -> EventMap:
    """The event map in force (the built-in default until one is set)."""
    row = await repo.latest_event_map(session)
    return DEFAULT_EVENT_MAP if row is None else EventMap.from_document(row.document)


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
    stored_aliases = await repo.aliases_of(session, senders - {""} - set(batch_aliases))
    aliases = {**stored_aliases, **batch_aliases}
    valid = [(i, raw, as_aliased(e, aliases)) for i, raw, e in valid]

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
    event_map = await current_event_map(session)
    new = await repo.insert_events(session, list(unique.values()), source_id, event_map)
    notify_changed(session, {account for _, account in new if account is not None})
    await _apply_side_effects(session, [unique[event_id] for event_id, _ in new])

    if keep_rejections:
        await repo.insert_rejections(
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
            await repo.merge_user_traits(session, e.user_id, e.traits, e.account_id)
            if e.account_id:
                links[e.user_id] = e.account_id
        elif e.type == "group" and e.user_id and e.group_id:
            await repo.merge_user_traits(session, e.user_id, {}, e.group_id)
            links[e.user_id] = e.group_id
    aliases = alias_calls(new_events)
    if aliases:
        await repo.record_aliases(session, aliases)
        await repo.adopt_unattributed(session, aliases)
        links.update(await repo.user_accounts(session, set(aliases.values()) - set(links)))
    await _attribute(session, links)


async def list_events(
    session: AsyncSession,
    *,
    account_id: str | None,
    user_id: str | None,
    name: str | None,
    since: datetime | None,
    until: datetime | None,
    before: tuple[datetime, str] | None,
    limit: int,
) -> Sequence[StoredEventOut]:
    """The stored events of an account or a user (one is required), newest first."""
    if account_id is None and user_id is None:
        raise Unprocessable(
            "Name an account or a user.",
            errors=[
                FieldError(detail="account_id or user_id is required", parameter=p)
                for p in ("account_id", "user_id")
            ],
        )
    if since is not None and until is not None and until <= since:
        raise Unprocessable(
            "The range is empty.",
            errors=[FieldError(detail="must be after from", parameter="to")],
        )
    rows = await repo.list_events(
        session,
        account_id=account_id,
        user_id=user_id,
        name=name,
        since=since,
        until=until,
        before=before,
        limit=limit,
    )
    return [_stored_event(row) for row in rows]


def _stored_event(row: StoredEvent) -> StoredEventOut:
    correction = 0.0 if row.sent_ts is None else (row.ts - row.sent_ts).total_seconds()
    return StoredEventOut(
        id=row.id,
        source_id=row.source_id,
        type=row.type,
        name=row.name,
        timestamp=row.ts,
        sent_timestamp=row.sent_ts,
        correction_seconds=correction,
        received_at=row.received_at,
        account_id=row.account_id,
        user_id=row.user_id,
        anonymous_id=row.anonymous_id,
        properties=row.properties,
    )


def _encoded_size(raw: Any, check_nul: bool) -> int:
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


def parse_native(raw: Any, index: int, now: datetime, *, check_nul: bool = True) -> Parsed:
    """One native event, validated, or why it cannot be accepted."""
    try:
        _encoded_size(raw, check_nul)
        return Parsed(index, raw, native_event(raw, now))
    except InvalidEvent as exc:
        return Parsed(index, raw, exc)


def parse_segment(
    raw: Any,
    index: int,
    *,
    default_type: str | None,
    received_at: datetime,
    batch_sent_at: datetime | None,
    max_message_bytes: int,
    check_nul: bool = True,
) -> Parsed:
    """One Segment message, validated (with clock-skew correction), or why not.

    ``default_type`` is the type of the single-call endpoint it came to (None for a batch).
    """
    outcome: Event | InvalidEvent
    try:
        if _encoded_size(raw, check_nul) > max_message_bytes:
            raise InvalidEvent("", f"message is larger than {max_message_bytes // 1024} KB")
        outcome = segment_event(
            raw, default_type=default_type, received_at=received_at, batch_sent_at=batch_sent_at
        )
    except InvalidEvent as exc:
        outcome = exc
    return Parsed(index, raw, outcome, default_type or "batch", batch_sent_at)


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
        else await repo.webhook_event_for_replay(session, source_id, row.event_id)
    )
    if stored is None or stored.applied_at is not None:
        row.resolved_at = now
        return ReplayOutcome(id=row.id, outcome="duplicate")
    account = await _webhook_account(session, stored.provider, stored.customer_ref)
    problem = (
        None if account is None else await _apply_webhook(session, _webhook_row(stored), account)
    )
    if problem is not None:
        await repo.mark_webhook(session, source_id, stored.event_id, applied=False)
        row.reason, row.field = problem.reason, problem.field
        return ReplayOutcome(id=row.id, outcome="rejected", reason=row.reason)
    row.resolved_at = now
    return ReplayOutcome(id=row.id, outcome="accepted")


async def replay_matching(
    session: AsyncSession, body: ReplayFilter, max_message_bytes: int
) -> ReplayResult:
    """Replay the unresolved rejected events a filter matches (at most ``limit``, oldest
    first); rows another replay holds are skipped, so no event is replayed twice at once."""
    rows = await repo.list_rejections(
        session,
        source=body.source,
        reason_contains=body.reason_contains,
        resolved=False,
        limit=body.limit,
        for_replay=True,
    )
    return await replay_rejected(session, rows, max_message_bytes)


async def replay_one(
    session: AsyncSession, rejected_id: int, max_message_bytes: int
) -> ReplayOutcome:
    """Replay one kept rejected event."""
    row = await repo.rejection_for_replay(session, rejected_id)
    if row is None:
        raise NotFound(f"No rejected event {rejected_id}.")
    if row.resolved_at is not None:
        raise Conflict(f"Rejected event {rejected_id} was already resolved.")
    return (await replay_rejected(session, [row], max_message_bytes)).items[0]


def _raw_id(raw: Any) -> str | None:
    if isinstance(raw, dict):
        for key in ("id", "messageId"):
            value = raw.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool):
                return clean_text(str(value)[:200])
    return None


# --- sources ------------------------------------------------------------------------------


def _new_secret(kind: str) -> tuple[str | None, str | None]:
    """(write key, signing secret) for a source of ``kind``."""
    if kind == "segment":
        return "wk_" + secrets.token_urlsafe(24), None
    # Both kinds use whsec_<base64> secrets (Standard Webhooks decodes the base64 part).
    return None, "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


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
    """A new secret for a source; a webhook source's previous secret stays valid for the
    grace period (``webhook_secret_grace_seconds``), a write key's not at all."""
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


async def disable_source(session: AsyncSession, source_id: uuid.UUID) -> SourceOut:
    """Stop accepting anything from a source (disabling twice keeps the first time)."""
    source = await repo.disable_source(session, source_id)
    if source is None:
        raise NotFound(f"No source {source_id}.")
    return SourceOut.model_validate(source)


async def get_account(session: AsyncSession, external_id: str) -> AccountOut:
    """One account."""
    account = await repo.get_account(session, external_id)
    if account is None:
        raise NotFound(f"No account '{external_id}'.")
    return AccountOut.model_validate(account)


async def get_user(session: AsyncSession, external_id: str) -> UserOut:
    """One user."""
    user = await repo.get_user(session, external_id)
    if user is None:
        raise NotFound(f"No user '{external_id}'.")
    return UserOut.model_validate(user)


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


async def rebuild_rollups(session: AsyncSession, body: RebuildRequest) -> RebuildResult:
    """Recount rollups under the event map in force, for named accounts or a page of all."""
    if body.account_ids is not None:
        ids = list(dict.fromkeys(body.account_ids))
        next_after = None
    else:
        ids = await repo.account_ids_after(session, body.after, body.limit)
        next_after = ids[-1] if len(ids) == body.limit else None
    version = await get_event_map(session)
    counted = 0
    if ids:
        counted = await repo.rebuild_rollups(session, ids, await current_event_map(session))
        notify_changed(session, set(ids))
    return RebuildResult(
        accounts=len(ids), events=counted, event_map_version=version.version, next_after=next_after
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
    tickets = await repo.open_tickets(session, ids)
    surveys = await repo.latest_surveys(session, ids)

    def latest(account_id: str, kind: str) -> SurveyLatest | None:
        row = surveys.get((account_id, kind))
        return None if row is None else SurveyLatest(score=row.score, responded_at=row.responded_at)

    return SignalsResponse(
        accounts=[
            AccountSignals(
                account_id=i,
                account=AccountOut.model_validate(accounts[i]) if i in accounts else None,
                support=AccountSupport(
                    open_tickets=tickets.get(i, {}), nps=latest(i, "nps"), csat=latest(i, "csat")
                ),
                rollups=rollups[i],
            )
            for i in ids
        ]
    )


# --- support and sentiment ----------------------------------------------------------------


async def _require_account(session: AsyncSession, account_id: str) -> None:
    if not await repo.existing_account_ids(session, [account_id]):
        raise UnknownAccount.for_field("/account_id", f"unknown account '{account_id}'")


async def record_ticket(session: AsyncSession, body: TicketIn) -> TicketOut:
    """Apply a ticket status update; a stale or repeated update changes and counts nothing."""
    await _require_account(session, body.account_id)
    return await _apply_ticket(session, body)


async def _apply_ticket(session: AsyncSession, body: TicketIn) -> TicketOut:
    update = TicketUpdate(body.status, body.severity, body.occurred_at.astimezone(UTC))
    current_row = await repo.ticket_for_update(session, body.ticket_id)
    current = _ticket_state(current_row) if current_row is not None else None
    outcome = apply_ticket_update(current, update)
    if outcome.state is not None and current is None:
        if not await repo.insert_ticket(session, body.ticket_id, body.account_id, outcome.state):
            # Another request created it first: start again from what it stored.
            current_row = await repo.ticket_for_update(session, body.ticket_id)
            assert current_row is not None
            current = _ticket_state(current_row)
            outcome = apply_ticket_update(current, update)
            if outcome.state is not None:
                await repo.update_ticket(session, body.ticket_id, outcome.state)
    elif outcome.state is not None:
        await repo.update_ticket(session, body.ticket_id, outcome.state)
    await repo.add_counters(
        session,
        [
            (body.account_id, day, counter)
            for day, counter in (
                (outcome.opened_on, "tickets_opened"),
                (outcome.closed_on, "tickets_closed"),
            )
            if day is not None
        ],
    )
    if outcome.state is not None:
        notify_changed(session, {body.account_id})
    state = outcome.state or current
    assert state is not None
    return TicketOut(
        ticket_id=body.ticket_id,
        account_id=body.account_id,
        status=state.status,
        severity=state.severity,
        opened_at=state.opened_at,
        closed_at=state.closed_at,
        applied=outcome.state is not None,
    )


def _ticket_state(row: Ticket) -> TicketState:
    return TicketState(row.status, row.severity, row.opened_at, row.closed_at, row.updated_at)


async def record_survey(session: AsyncSession, body: SurveyIn) -> SurveyOut:
    """Store a survey response once per id."""
    await _require_account(session, body.account_id)
    return await _store_survey(session, body)


async def _store_survey(session: AsyncSession, body: SurveyIn) -> SurveyOut:
    created = await repo.insert_survey(session, body.model_dump())
    if created:
        notify_changed(session, {body.account_id})
    return SurveyOut(id=body.id, duplicate=not created)


# --- webhooks and billing -----------------------------------------------------------------


def _secrets(source: Source, grace: timedelta) -> list[str]:
    return signing_secrets(
        source.signing_secret,
        source.previous_signing_secret,
        source.rotated_at,
        datetime.now(UTC),
        grace,
    )


async def webhook_source(session: AsyncSession, source_id: uuid.UUID, kind: str) -> Source:
    """The enabled source of ``kind`` a webhook URL names."""
    source = await repo.get_source(session, source_id)
    if source is None or source.kind != kind or source.disabled_at is not None:
        raise NotFound(f"No enabled {kind} source {source_id}.")
    return source


async def receive_stripe(
    session: AsyncSession,
    source: Source,
    payload: bytes,
    signature: str | None,
    secret_grace: timedelta,
) -> WebhookResult:
    """Verify, store once and apply a Stripe event (or keep it until its customer is mapped).

    A secret replaced by a rotation still verifies for ``secret_grace`` after it.
    """
    try:
        verify_stripe(payload, signature, _secrets(source, secret_grace), time.time())
    except SignatureError as exc:
        raise _signature_problem(exc) from exc
    event = _json_object(payload)
    event_id, kind = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not event_id:
        raise Unprocessable.for_field("/id", "the event has no id")
    if len(event_id) > 200:
        raise Unprocessable.for_field("/id", "must be at most 200 characters")
    if kind not in STRIPE_EVENTS:
        return WebhookResult(event_id=event_id, ignored=True)
    try:
        customer = stripe_customer(event)
        change = stripe_change(event)
    except BillingEventError as exc:
        raise Unprocessable.for_field("/" + exc.field.replace(".", "/"), exc.reason) from exc
    row = {
        "event_id": event_id,
        "source_id": source.id,
        "provider": "stripe",
        "type": kind,
        "customer_ref": customer,
        "occurred_at": change.occurred_at,
        "payload": event,
    }
    return await _store_and_apply(session, row)


async def receive_standard(
    session: AsyncSession,
    source: Source,
    payload: bytes,
    headers: dict[str, str | None],
    secret_grace: timedelta,
) -> WebhookResult:
    """Verify, store once and apply a Standard Webhooks event of the generic shape.

    A secret replaced by a rotation still verifies for ``secret_grace`` after it.
    """
    msg_id = headers.get("webhook-id")
    try:
        stamp = verify_standard(
            payload,
            msg_id,
            headers.get("webhook-timestamp"),
            headers.get("webhook-signature"),
            _secrets(source, secret_grace),
            time.time(),
        )
    except SignatureError as exc:
        raise _signature_problem(exc) from exc
    assert msg_id is not None
    event = _json_object(payload)
    kind = event.get("type")
    data = event.get("data")
    if not isinstance(kind, str) or kind not in GENERIC_EVENT_TYPES:
        raise Unprocessable.for_field("/type", f"must be one of {', '.join(GENERIC_EVENT_TYPES)}")
    if not isinstance(data, dict):
        raise Unprocessable.for_field("/data", "must be an object")
    account_id = data.get("account_id")
    if not isinstance(account_id, str) or not account_id or len(account_id) > 200:
        raise Unprocessable.for_field("/data/account_id", "is required, at most 200 characters")
    occurred = _generic_time(data, datetime.fromtimestamp(stamp, UTC))
    _validate_generic(kind, data, occurred)
    row = {
        "event_id": msg_id,
        "source_id": source.id,
        "provider": "standard_webhooks",
        "type": kind,
        "customer_ref": account_id,
        "occurred_at": occurred,
        "payload": event,
    }
    return await _store_and_apply(session, row)


async def _store_and_apply(session: AsyncSession, row: dict[str, Any]) -> WebhookResult:
    """Store a verified webhook once, then apply it, or keep it until its account is known."""
    event_id = row["event_id"]
    if not await repo.insert_webhook_event(session, row):
        return WebhookResult(event_id=event_id, duplicate=True)
    account = await _webhook_account(session, row["provider"], row["customer_ref"])
    if account is None:
        return WebhookResult(event_id=event_id, pending=True)
    problem = await _apply_webhook(session, row, account)
    if problem is not None:
        await _reject_webhook(session, row, problem)
        return WebhookResult(event_id=event_id, rejected=True, reason=problem.reason)
    return WebhookResult(event_id=event_id, applied=True)


async def _webhook_account(
    session: AsyncSession, provider: str, customer_ref: str
) -> Account | None:
    """The account a webhook event is for, locked: by Stripe customer, or by account id."""
    if provider == "stripe":
        return await repo.account_by_stripe_customer(session, customer_ref)
    return await repo.account_for_update(session, customer_ref)


async def _apply_webhook(
    session: AsyncSession, row: Mapping[str, Any], account: Account
) -> BillingEventError | None:
    """Apply a stored webhook event to its account and mark it applied, or say why it cannot.

    It is applied in a savepoint: one that the rules or the database refuse (a renewal
    before the contract start, say) is undone alone, and whatever request brought it here
    (an account upsert that made it applicable) goes on.
    """
    try:
        async with session.begin_nested():
            if row["provider"] == "stripe":
                change = stripe_change(row["payload"])
                await _apply_change(session, account, change)
            else:
                data = row["payload"]["data"]
                await _apply_generic(session, account, row["type"], data, row["occurred_at"])
    except BillingEventError as exc:
        return exc
    except DBAPIError as exc:
        if not (database_error_state(exc) or "").startswith(("22", "23")):
            raise
        return BillingEventError("", database_error_message(exc))
    await repo.mark_webhook(session, row["source_id"], row["event_id"], applied=True)
    return None


async def _reject_webhook(
    session: AsyncSession, row: Mapping[str, Any], problem: BillingEventError
) -> None:
    """Keep a webhook event that cannot apply as rejected, with its reason, for a replay."""
    await repo.mark_webhook(session, row["source_id"], row["event_id"], applied=False)
    await repo.insert_rejections(
        session,
        [
            {
                "source": f"webhook:{row['source_id']}",
                "event_id": row["event_id"],
                "reason": problem.reason,
                "field": problem.field,
                "raw": row["payload"],
            }
        ],
    )


def _signature_problem(exc: SignatureError) -> TenureError:
    """A 400 for a header that cannot be read, a 401 for one no secret of the source signed."""
    kind = MalformedSignatureHeader if isinstance(exc, MalformedSignature) else InvalidSignature
    return kind(
        f"Signature check failed: {exc.reason}",
        errors=[FieldError(detail=exc.reason, parameter=exc.header)],
    )


GENERIC_EVENT_TYPES = (
    "subscription.updated",
    "payment.failed",
    "invoice.paid",
    "ticket.opened",
    "ticket.closed",
    "survey.responded",
)


def _json_object(payload: bytes) -> dict[str, Any]:
    doc = parse_json(payload)
    if not isinstance(doc, dict):
        raise Unprocessable.for_field("", "must be a JSON object")
    found = unstorable_at(doc)
    if found:
        raise Unprocessable.for_field(*found)
    return doc


def _generic_time(data: dict[str, Any], default: datetime) -> datetime:
    raw = data.get("occurred_at")
    if raw is None:
        return default
    try:
        return parse_timestamp(raw, "occurred_at")
    except InvalidEvent as exc:
        raise Unprocessable.for_field("/data/occurred_at", exc.reason) from exc


def _generic_ticket(data: dict[str, Any], kind: str, occurred: datetime) -> TicketIn:
    return TicketIn.model_validate(
        {
            "ticket_id": data.get("ticket_id"),
            "account_id": data.get("account_id"),
            "status": "open" if kind == "ticket.opened" else "closed",
            "severity": data.get("severity", "medium"),
            "occurred_at": occurred,
        }
    )


def _generic_survey(data: dict[str, Any], occurred: datetime) -> SurveyIn:
    return SurveyIn.model_validate({**data, "responded_at": data.get("responded_at", occurred)})


def _validate_generic(kind: str, data: dict[str, Any], occurred: datetime) -> None:
    """Refuse, before storing, a generic event that could never be applied."""
    try:
        if kind == "subscription.updated":
            generic_subscription_fields(data)
        elif kind.startswith("ticket."):
            _generic_ticket(data, kind, occurred)
        elif kind == "survey.responded":
            _generic_survey(data, occurred)
    except BillingEventError as exc:
        raise Unprocessable.for_field("/" + exc.field.replace(".", "/"), exc.reason) from exc
    except ValidationError as exc:
        errors = [
            FieldError(detail=str(e["msg"]), pointer="/data/" + "/".join(str(p) for p in e["loc"]))
            for e in exc.errors()
        ]
        raise Unprocessable("The event's data is invalid.", errors=errors) from exc


async def _apply_generic(
    session: AsyncSession, account: Account, kind: str, data: dict[str, Any], occurred: datetime
) -> None:
    if kind == "subscription.updated":
        change = BillingChange("subscription", occurred, generic_subscription_fields(data))
        await _apply_change(session, account, change)
    elif kind == "payment.failed":
        await _apply_change(session, account, BillingChange("payment_failed", occurred, {}))
    elif kind == "invoice.paid":
        await _apply_change(session, account, BillingChange("invoice_paid", occurred, {}))
    elif kind.startswith("ticket."):
        await _apply_ticket(session, _generic_ticket(data, kind, occurred))
    else:
        await _store_survey(session, _generic_survey(data, occurred))


async def _apply_change(session: AsyncSession, account: Account, change: BillingChange) -> None:
    """Apply a billing change; subscription facts older than those applied already lose."""
    day = change.occurred_at.date()
    if change.kind == "subscription":
        if account.billing_updated_at is None or change.occurred_at >= account.billing_updated_at:
            check_applicable(change, account.contract_start)
            for name, value in change.fields.items():
                setattr(account, name, value)
            account.billing_updated_at = change.occurred_at
            account.updated_at = datetime.now(UTC)
            await session.flush()
    else:
        counter = "payment_failures" if change.kind == "payment_failed" else "invoices_paid"
        await repo.add_counters(session, [(account.external_id, day, counter)])
    notify_changed(session, {account.external_id})


async def apply_pending_webhooks(session: AsyncSession, account_ids: Sequence[str]) -> None:
    """Apply webhook events that were waiting for these accounts (or their Stripe mapping).

    One that cannot apply is rejected with its reason (see ``_apply_webhook``): it never
    stops the account from being written.
    """
    customers = await repo.stripe_customers_of(session, account_ids)
    rows = [
        *await repo.pending_webhook_events(session, "stripe", customers),
        *await repo.pending_webhook_events(session, "standard_webhooks", account_ids),
    ]
    for row in rows:
        stored = _webhook_row(row)
        account = await _webhook_account(session, row.provider, row.customer_ref)
        if account is not None:
            problem = await _apply_webhook(session, stored, account)
            if problem is not None:
                await _reject_webhook(session, stored, problem)


def _webhook_row(row: WebhookEvent) -> dict[str, Any]:
    return {
        "event_id": row.event_id,
        "source_id": row.source_id,
        "provider": row.provider,
        "type": row.type,
        "customer_ref": row.customer_ref,
        "occurred_at": row.occurred_at,
        "payload": row.payload,
    }


def _segment_write_key(authorization: str | None, doc: dict[str, Any]) -> str | None:
    """The write key of a Segment call: the HTTP Basic username, else the body's writeKey."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() == "basic" and value:
        try:
            user, _, _ = base64.b64decode(value).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user or None
    key = doc.get("writeKey")
    return key if isinstance(key, str) and key else None


async def segment_source(
    session: AsyncSession, authorization: str | None, doc: dict[str, Any], limiter: RateLimiter
) -> Source:
    """The live Segment source whose write key a Tracking API call carries (a 401 if none),
    within its rate limit (a 429 if not)."""
    key = _segment_write_key(authorization, doc)
    if key is None:
        raise Unauthorized("A write key is required (HTTP Basic username, or writeKey).")
    source = await repo.source_by_write_key(session, hash_key(key))
    if source is None or source.kind != "segment":
        raise Unauthorized("The write key is not known.")
    if source.disabled_at is not None:
        raise Unauthorized("The source of this write key is disabled.")
    limiter.take(f"source:{source.id}", "segment")
    return source
