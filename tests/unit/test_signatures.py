"""Webhook signature checks, against the senders' own libraries' signatures."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook
from stripe import WebhookSignature

from services.ingest.domain.signatures import (
    MalformedSignature,
    SignatureError,
    SignatureMismatch,
    signing_secrets,
    verify_standard,
    verify_stripe,
)

PAYLOAD = b'{"id":"evt_1","type":"invoice.paid"}'
SECRET = "whsec_" + "c2VjcmV0LXNpZ25pbmcta2V5LWZvci10ZXN0cw=="
OLD_SECRET = "whsec_b2xkLXNpZ25pbmcta2V5LWZvci10ZXN0cyE="


def stripe_header(secret: str, at: int) -> str:
    header: str = WebhookSignature.generate_signature_header(PAYLOAD.decode(), secret, timestamp=at)
    return header


def test_stripe_signature_from_the_stripe_library_is_accepted() -> None:
    now = int(time.time())
    verify_stripe(PAYLOAD, stripe_header(SECRET, now), [SECRET], now)


def test_stripe_accepts_any_of_several_v1_signatures_and_any_current_secret() -> None:
    now = int(time.time())
    ours = stripe_header(SECRET, now).split(",")[1]
    header = f"t={now},v1={'0' * 64},{ours}"
    verify_stripe(PAYLOAD, header, [SECRET], now)
    verify_stripe(PAYLOAD, stripe_header(OLD_SECRET, now), [SECRET, OLD_SECRET], now)


GOOD_HEX = "0" * 64


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "garbage",
        "t=abc,v1=00",
        "v1=00",
        "t=1,t=2,v1=00",
        "t=1700000000",
        f"t={'9' * 400},v1={GOOD_HEX}",  # a 400-digit timestamp
        f"t=-1700000000,v1={GOOD_HEX}",
        f"t=\u0661\u0667\u0660\u0660,v1={GOOD_HEX}",  # Arabic-Indic digits
        f"t=1_700_000_000,v1={GOOD_HEX}",
        "t=1700000000,v1=" + "é" * 64,  # non-ASCII signature
        "t=1700000000,v1=" + "g" * 64,
        "t=1700000000,v1=",
    ],
)
def test_stripe_malformed_headers_are_refused_without_a_secret(header: str | None) -> None:
    # No secret at all: a malformed header is found malformed before any secret is used.
    with pytest.raises(MalformedSignature):
        verify_stripe(PAYLOAD, header, [], 1_700_000_000)


def test_stripe_tolerance_and_tampering() -> None:
    now = int(time.time())
    with pytest.raises(SignatureMismatch, match="tolerance"):
        verify_stripe(PAYLOAD, stripe_header(SECRET, now - 301), [SECRET], now)
    assert verify_stripe(PAYLOAD, stripe_header(SECRET, now - 299), [SECRET], now) == now - 299
    with pytest.raises(SignatureMismatch, match="no signature"):
        verify_stripe(PAYLOAD + b" ", stripe_header(SECRET, now), [SECRET], now)
    with pytest.raises(SignatureMismatch):
        verify_stripe(PAYLOAD, stripe_header(OLD_SECRET, now), [SECRET], now)
    # Unknown schemes next to a good v1 are ignored, as Stripe documents.
    verify_stripe(PAYLOAD, stripe_header(SECRET, now) + ",v0=whatever", [SECRET], now)


def standard_headers(secret: str, msg_id: str, at: datetime) -> tuple[str, str, str]:
    signature = Webhook(secret).sign(msg_id, at, PAYLOAD.decode())
    return msg_id, str(int(at.timestamp())), signature


def test_standard_webhooks_signature_from_its_library_is_accepted() -> None:
    at = datetime.now(UTC)
    msg_id, stamp, signature = standard_headers(SECRET, "msg_1", at)
    verify_standard(PAYLOAD, msg_id, stamp, signature, [SECRET], at.timestamp())
    # Several signatures, space separated, during a rotation.
    both = f"v1,AAAA {signature}"
    verify_standard(PAYLOAD, msg_id, stamp, both, [SECRET], at.timestamp())


@pytest.mark.parametrize(
    ("msg_id", "stamp", "signature"),
    [
        (None, "1700000000", "v1,abc"),
        ("m", None, "v1,abc"),
        ("m", "1700000000", None),
        ("m", "soon", "v1,abc"),
        ("m", "1700000000", "v1"),
        ("m", "1700000000", "v1,!!!not-base64!!!"),
        ("m", "1700000000", "v2,abc"),
        ("m", "1700000000", "v2,AAAA"),  # only another version's signature
        ("m", "1700000000", "v1,AAA"),  # bad padding
        ("m", "1700000000", "v1,AAAAé=="),  # non-ASCII
        ("m", "1700000000", "v1,AAAA garbage"),
        ("m", "9" * 400, "v1,AAAA"),  # a huge timestamp
        ("m", "-1", "v1,AAAA"),
        ("m", "1.5", "v1,AAAA"),
        ("m", "\u0661\u0667", "v1,AAAA"),
        ("m", "", "v1,AAAA"),
        ("m" * 201, "1700000000", "v1,AAAA"),
        ("mé", "1700000000", "v1,AAAA"),
        ("m m", "1700000000", "v1,AAAA"),
    ],
)
def test_standard_webhooks_malformed_headers_are_refused_without_a_secret(
    msg_id: str | None, stamp: str | None, signature: str | None
) -> None:
    with pytest.raises(MalformedSignature):
        verify_standard(PAYLOAD, msg_id, stamp, signature, [], 1_700_000_000)


def test_readable_headers_no_secret_signed_are_a_mismatch_not_malformed() -> None:
    at = datetime.now(UTC)
    msg_id, stamp, _signature = standard_headers(SECRET, "msg_1", at)
    with pytest.raises(SignatureMismatch):
        verify_standard(PAYLOAD, msg_id, stamp, "v1,AAAA", [SECRET], at.timestamp())
    # A far-off but well-formed timestamp is outside the tolerance, not malformed.
    with pytest.raises(SignatureMismatch, match="tolerance"):
        verify_standard(PAYLOAD, msg_id, "9" * 12, "v1,AAAA", [SECRET], at.timestamp())
    assert issubclass(SignatureMismatch, SignatureError)


def test_standard_webhooks_wrong_id_or_old_timestamp_is_refused() -> None:
    at = datetime.now(UTC)
    _msg_id, stamp, signature = standard_headers(SECRET, "msg_1", at)
    with pytest.raises(SignatureMismatch):
        verify_standard(PAYLOAD, "msg_2", stamp, signature, [SECRET], at.timestamp())
    with pytest.raises(SignatureMismatch, match="tolerance"):
        verify_standard(PAYLOAD, "msg_1", stamp, signature, [SECRET], at.timestamp() + 301)


def test_a_rotated_out_secret_verifies_only_for_the_grace_period() -> None:
    rotated = datetime.now(UTC)
    grace = timedelta(hours=24)
    during = rotated + grace - timedelta(seconds=1)
    assert signing_secrets(SECRET, OLD_SECRET, rotated, during, grace) == [SECRET, OLD_SECRET]
    after = rotated + grace
    assert signing_secrets(SECRET, OLD_SECRET, rotated, after, grace) == [SECRET]
    assert signing_secrets(SECRET, None, None, after, grace) == [SECRET]
    # Past the grace, a signature by the old secret no longer verifies.
    now = int(after.timestamp())
    secrets = signing_secrets(SECRET, OLD_SECRET, rotated, after, grace)
    with pytest.raises(SignatureMismatch):
        verify_stripe(PAYLOAD, stripe_header(OLD_SECRET, now), secrets, now)
