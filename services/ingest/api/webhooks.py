"""Billing webhooks: Stripe-signed and Standard Webhooks-signed, verified before storing."""

from __future__ import annotations

from fastapi import APIRouter, Request

from services.ingest.api.deps import Settings, StandardSource, StripeSource
from services.ingest.schemas.webhooks import WebhookResult
from services.ingest.service import webhooks as service
from shared.deps import Session
from shared.errors import (
    BadRequest,
    InvalidSignature,
    MalformedSignatureHeader,
    NotFound,
    PayloadTooLarge,
    Unprocessable,
    responses,
)
from shared.json_body import JsonBodyRoute
from shared.limits import accepts_body

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1/webhooks", tags=["webhooks"])
# The signature, not an API key, authenticates a webhook: 401 is a signature no secret of the
# source made, and there is no 403.
_ERRORS = {
    k: v
    for k, v in responses(
        BadRequest,
        MalformedSignatureHeader,
        InvalidSignature,
        NotFound,
        PayloadTooLarge,
        Unprocessable,
    ).items()
    if k != 403
}
_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


@router.post("/stripe/{source_id}", responses=_ERRORS, openapi_extra=_BODY)
@accepts_body("max_batch_bytes")
async def stripe_webhook(
    source: StripeSource, request: Request, session: Session, settings: Settings
) -> WebhookResult:
    """A Stripe event: subscription created/updated/deleted, invoice paid or payment failed."""
    payload = await request.body()  # bounded by the request edge (shared.limits)
    return await service.receive_stripe(
        session,
        source,
        payload,
        request.headers.get("stripe-signature"),
        settings.webhook_secret_grace,
    )


@router.post("/{source_id}", responses=_ERRORS, openapi_extra=_BODY)
@accepts_body("max_batch_bytes")
async def standard_webhook(
    source: StandardSource, request: Request, session: Session, settings: Settings
) -> WebhookResult:
    """A Standard Webhooks event ``{type, data}`` (see the README for the types)."""
    payload = await request.body()  # bounded by the request edge (shared.limits)
    headers = {
        name: request.headers.get(name)
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
    }
    return await service.receive_standard(
        session, source, payload, headers, settings.webhook_secret_grace
    )
