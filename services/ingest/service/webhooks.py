"""Billing webhooks in: verified, checked and stored once."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.domain.billing import (
    GENERIC_EVENT_TYPES,
    STRIPE_EVENTS,
    BillingEventError,
    generic_subscription_fields,
    stripe_change,
    stripe_customer,
)
from services.ingest.domain.events import InvalidEvent, parse_timestamp
from services.ingest.domain.signatures import (
    MalformedSignature,
    SignatureError,
    signing_secrets,
    verify_standard,
    verify_stripe,
)
from services.ingest.models import Source
from services.ingest.repository import sources as sources_repo
from services.ingest.repository import webhooks as webhooks_repo
from services.ingest.schemas.webhooks import WebhookResult
from services.ingest.service.billing import (
    apply_webhook,
    generic_survey,
    generic_ticket,
    reject_webhook,
    webhook_account,
)
from shared.errors import (
    FieldError,
    InvalidSignature,
    MalformedSignatureHeader,
    NotFound,
    TenureError,
    Unprocessable,
)
from shared.json_body import parse_json
from shared.validation import unstorable_at


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
    source = await sources_repo.get_source(session, source_id)
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
    if not await webhooks_repo.insert_webhook_event(session, row):
        return WebhookResult(event_id=event_id, duplicate=True)
    account = await webhook_account(session, row["provider"], row["customer_ref"])
    if account is None:
        return WebhookResult(event_id=event_id, pending=True)
    problem = await apply_webhook(session, row, account)
    if problem is not None:
        await reject_webhook(session, row, problem)
        return WebhookResult(event_id=event_id, rejected=True, reason=problem.reason)
    return WebhookResult(event_id=event_id, applied=True)


def _signature_problem(exc: SignatureError) -> TenureError:
    """A 400 for a header that cannot be read, a 401 for one no secret of the source signed."""
    kind = MalformedSignatureHeader if isinstance(exc, MalformedSignature) else InvalidSignature
    return kind(
        f"Signature check failed: {exc.reason}",
        errors=[FieldError(detail=exc.reason, parameter=exc.header)],
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


def _validate_generic(kind: str, data: dict[str, Any], occurred: datetime) -> None:
    """Refuse, before storing, a generic event that could never be applied."""
    try:
        if kind == "subscription.updated":
            generic_subscription_fields(data)
        elif kind.startswith("ticket."):
            generic_ticket(data, kind, occurred)
        elif kind == "survey.responded":
            generic_survey(data, occurred)
    except BillingEventError as exc:
        raise Unprocessable.for_field("/" + exc.field.replace(".", "/"), exc.reason) from exc
    except ValidationError as exc:
        errors = [
            FieldError(detail=str(e["msg"]), pointer="/data/" + "/".join(str(p) for p in e["loc"]))
            for e in exc.errors()
        ]
        raise Unprocessable("The event's data is invalid.", errors=errors) from exc
