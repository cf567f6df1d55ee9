"""Webhook signature checks, done before anything from a webhook is stored.

Stripe: ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]``, HMAC-SHA256 of ``t.payload``
with the endpoint secret as UTF-8. Standard Webhooks: ``webhook-id``, ``webhook-timestamp``
and ``webhook-signature: v1,<base64> [v1,<base64>...]``, HMAC-SHA256 of ``id.timestamp.payload``
with the base64-decoded part of a ``whsec_`` secret. Both allow several signatures (secret
rotation) and refuse timestamps more than the tolerance away from now.

Headers are read in full before any secret is used: a header that cannot be read is
``MalformedSignature`` (the sender's bug), a readable one that no secret of the source signed,
or signed too long ago, is ``SignatureMismatch``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

TOLERANCE_SECONDS = 300
# Unix seconds fit in 12 digits until the year 33658; a longer "timestamp" is not one, and
# bounding it keeps the tolerance arithmetic in range.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
# Standard Webhooks ids are opaque ASCII tokens; they are stored as the dedupe key.
_MESSAGE_ID = re.compile(r"[\x21-\x7e]{1,200}")


class SignatureError(ValueError):
    """A webhook that does not authenticate; ``header`` names the header at fault."""

    def __init__(self, header: str, reason: str) -> None:
        super().__init__(reason)
        self.header = header
        self.reason = reason


class MalformedSignature(SignatureError):
    """A signature header that is missing or cannot be read (no secret is needed to tell)."""


class SignatureMismatch(SignatureError):
    """Readable headers that no secret of this source signed, or signed outside the tolerance."""


@dataclass(frozen=True)
class StripeHeader:
    """A parsed ``Stripe-Signature``: its timestamp and every ``v1`` signature (hex)."""

    timestamp: int
    signatures: tuple[str, ...]


@dataclass(frozen=True)
class StandardHeaders:
    """Parsed Standard Webhooks headers; ``signatures`` are the decoded ``v1`` ones."""

    msg_id: str
    timestamp: int
    signatures: tuple[bytes, ...]


def _timestamp(header: str, raw: str) -> int:
    if _TIMESTAMP.fullmatch(raw) is None:
        raise MalformedSignature(header, "the signature timestamp is not a Unix time in seconds")
    return int(raw)


def _check_tolerance(header: str, stamp: int, now: float, tolerance: int) -> None:
    if abs(now - stamp) > tolerance:
        raise SignatureMismatch(header, "the signature timestamp is outside the tolerance")


def parse_stripe_header(header: str | None) -> StripeHeader:
    """Read ``Stripe-Signature``; other schemes (``v0``...) are ignored, as Stripe says."""
    name = "Stripe-Signature"
    if not header:
        raise MalformedSignature(name, "the Stripe-Signature header is missing")
    stamps, signatures = [], []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            stamps.append(value)
        elif key == "v1":
            if _HEX_SHA256.fullmatch(value) is None:
                raise MalformedSignature(name, "a v1 signature is not 64 hexadecimal digits")
            signatures.append(value.lower())
    if len(stamps) != 1 or not signatures:
        raise MalformedSignature(
            name, "the Stripe-Signature header needs one timestamp and a v1 signature"
        )
    return StripeHeader(_timestamp(name, stamps[0]), tuple(signatures))


def verify_stripe(
    payload: bytes,
    header: str | None,
    secrets: Sequence[str],
    now: float,
    tolerance: int = TOLERANCE_SECONDS,
) -> int:
    """The signed timestamp, unless ``header`` does not sign ``payload`` with one of ``secrets``."""
    parsed = parse_stripe_header(header)
    _check_tolerance("Stripe-Signature", parsed.timestamp, now, tolerance)
    signed = f"{parsed.timestamp}.".encode() + payload
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        if any(hmac.compare_digest(expected, s) for s in parsed.signatures):
            return parsed.timestamp
    raise SignatureMismatch("Stripe-Signature", "no signature matches this source's secret")


def standard_secret_bytes(secret: str) -> bytes:
    """The key of a ``whsec_<base64>`` secret (Tenure makes them, so they always decode)."""
    body = secret.removeprefix("whsec_")
    return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)


def _decode_base64(value: str) -> bytes:
    if _BASE64.fullmatch(value) is None or len(value) % 4:
        raise MalformedSignature("webhook-signature", "a v1 signature is not base64")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise MalformedSignature("webhook-signature", "a v1 signature is not base64") from exc


def parse_standard_headers(
    msg_id: str | None, timestamp: str | None, header: str | None
) -> StandardHeaders:
    """Read the three Standard Webhooks headers; signatures of other versions are ignored."""
    if not msg_id:
        raise MalformedSignature("webhook-id", "the webhook-id header is missing")
    if not timestamp:
        raise MalformedSignature("webhook-timestamp", "the webhook-timestamp header is missing")
    if not header:
        raise MalformedSignature("webhook-signature", "the webhook-signature header is missing")
    if _MESSAGE_ID.fullmatch(msg_id) is None:
        raise MalformedSignature(
            "webhook-id", "must be 1 to 200 printable ASCII characters without spaces"
        )
    stamp = _timestamp("webhook-timestamp", timestamp)
    signatures = []
    for item in header.split():
        version, comma, value = item.partition(",")
        if not comma or not version:
            raise MalformedSignature("webhook-signature", "each signature is <version>,<value>")
        if version == "v1":
            signatures.append(_decode_base64(value))
    if not signatures:
        raise MalformedSignature("webhook-signature", "the header holds no v1 signature")
    return StandardHeaders(msg_id, stamp, tuple(signatures))


def verify_standard(
    payload: bytes,
    msg_id: str | None,
    timestamp: str | None,
    header: str | None,
    secrets: Sequence[str],
    now: float,
    tolerance: int = TOLERANCE_SECONDS,
) -> int:
    """The signed timestamp, unless the Standard Webhooks headers do not sign ``payload``."""
    parsed = parse_standard_headers(msg_id, timestamp, header)
    _check_tolerance("webhook-timestamp", parsed.timestamp, now, tolerance)
    signed = f"{parsed.msg_id}.{parsed.timestamp}.".encode() + payload
    for secret in secrets:
        expected = hmac.new(standard_secret_bytes(secret), signed, hashlib.sha256).digest()
        if any(hmac.compare_digest(expected, sig) for sig in parsed.signatures):
            return parsed.timestamp
    raise SignatureMismatch("webhook-signature", "no signature matches this source's secret")


def signing_secrets(
    current: str | None,
    previous: str | None,
    rotated_at: datetime | None,
    now: datetime,
    grace: timedelta,
) -> list[str]:
    """The secrets a webhook may be signed with: the current one, and the one a rotation
    replaced until ``grace`` after the rotation (senders switch over; a leaked one expires)."""
    secrets = [current] if current else []
    if previous and rotated_at is not None and now < rotated_at + grace:
        secrets.append(previous)
    return secrets
