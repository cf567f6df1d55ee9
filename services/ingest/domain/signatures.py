"""Webhook signature checks, done before anything from a webhook is stored.

Stripe: ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]``, HMAC-SHA256 of ``t.payload``
with the endpoint secret as UTF-8. Standard Webhooks: ``webhook-id``, ``webhook-timestamp``
and ``webhook-signature: v1,<base64> [v1,<base64>...]``, HMAC-SHA256 of ``id.timestamp.payload``
with the base64-decoded part of a ``whsec_`` secret. Both allow several signatures (secret
rotation) and refuse timestamps more than the tolerance away from now.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence

TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """The webhook is not signed by a secret of this source, or is too old or too new."""


def _timestamp(raw: str, now: float, tolerance: int) -> int:
    try:
        stamp = int(raw)
    except ValueError as exc:
        raise SignatureError("the signature timestamp is not a number") from exc
    if abs(now - stamp) > tolerance:
        raise SignatureError("the signature timestamp is outside the tolerance")
    return stamp


def verify_stripe(
    payload: bytes,
    header: str | None,
    secrets: Sequence[str],
    now: float,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """Raise ``SignatureError`` unless ``header`` signs ``payload`` with one of ``secrets``."""
    if not header:
        raise SignatureError("the Stripe-Signature header is missing")
    stamps, signatures = [], []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            stamps.append(value)
        elif key == "v1":
            signatures.append(value)
    if len(stamps) != 1 or not signatures:
        raise SignatureError("the Stripe-Signature header has no timestamp or no v1 signature")
    stamp = _timestamp(stamps[0], now, tolerance)
    signed = f"{stamp}.".encode() + payload
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        if any(hmac.compare_digest(expected, s) for s in signatures):
            return
    raise SignatureError("no signature matches this source's signing secret")


def standard_secret_bytes(secret: str) -> bytes:
    """The key of a ``whsec_<base64>`` secret."""
    body = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except binascii.Error as exc:
        raise SignatureError("the signing secret is not valid base64") from exc


def verify_standard(
    payload: bytes,
    msg_id: str | None,
    timestamp: str | None,
    header: str | None,
    secrets: Sequence[str],
    now: float,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """Raise ``SignatureError`` unless the Standard Webhooks headers sign ``payload``."""
    if not (msg_id and timestamp and header):
        raise SignatureError("webhook-id, webhook-timestamp and webhook-signature are required")
    stamp = _timestamp(timestamp, now, tolerance)
    signed = f"{msg_id}.{stamp}.".encode() + payload
    offered = []
    for item in header.split():
        version, _, value = item.partition(",")
        if version == "v1" and value:
            try:
                offered.append(base64.b64decode(value, validate=True))
            except binascii.Error:
                continue
    for secret in secrets:
        expected = hmac.new(standard_secret_bytes(secret), signed, hashlib.sha256).digest()
        if any(hmac.compare_digest(expected, sig) for sig in offered):
            return
    raise SignatureError("no signature matches this source's signing secret")
