"""Webhook signature checks, against the senders' own libraries' signatures."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook
from stripe import WebhookSignature

from services.ingest.domain.signatures import SignatureError, verify_standard, verify_stripe

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


@pytest.mark.parametrize(
    "header",
    [None, "", "garbage", "t=abc,v1=00", "v1=00", "t=1,t=2,v1=00", "t=1700000000"],
)
def test_stripe_malformed_headers_are_refused(header: str | None) -> None:
    with pytest.raises(SignatureError):
        verify_stripe(PAYLOAD, header, [SECRET], 1_700_000_000)


def test_stripe_tolerance_and_tampering() -> None:
    now = int(time.time())
    with pytest.raises(SignatureError, match="tolerance"):
        verify_stripe(PAYLOAD, stripe_header(SECRET, now - 301), [SECRET], now)
    verify_stripe(PAYLOAD, stripe_header(SECRET, now - 299), [SECRET], now)
    with pytest.raises(SignatureError, match="no signature"):
        verify_stripe(PAYLOAD + b" ", stripe_header(SECRET, now), [SECRET], now)
    with pytest.raises(SignatureError):
        verify_stripe(PAYLOAD, stripe_header(OLD_SECRET, now), [SECRET], now)


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
    ],
)
def test_standard_webhooks_malformed_headers_are_refused(
    msg_id: str | None, stamp: str | None, signature: str | None
) -> None:
    with pytest.raises(SignatureError):
        verify_standard(PAYLOAD, msg_id, stamp, signature, [SECRET], 1_700_000_000)


def test_standard_webhooks_wrong_id_or_old_timestamp_is_refused() -> None:
    at = datetime.now(UTC)
    _msg_id, stamp, signature = standard_headers(SECRET, "msg_1", at)
    with pytest.raises(SignatureError):
        verify_standard(PAYLOAD, "msg_2", stamp, signature, [SECRET], at.timestamp())
    with pytest.raises(SignatureError, match="tolerance"):
        verify_standard(PAYLOAD, "msg_1", stamp, signature, [SECRET], at.timestamp() + 301)
