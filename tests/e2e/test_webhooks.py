"""Billing webhooks, signed with the stripe and standardwebhooks libraries' own helpers."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from standardwebhooks.webhooks import Webhook
from stripe import WebhookSignature

from tests.conftest import Platform
from tests.e2e.test_accounts import account, new_id
from tests.e2e.test_events import make_account


async def source(ingest: httpx.AsyncClient, kind: str) -> dict[str, Any]:
    created = await ingest.post("/v1/sources", json={"kind": kind, "name": kind})
    assert created.status_code == 201
    body: dict[str, Any] = created.json()
    assert body["signing_secret"].startswith("whsec_")
    return body


# Where billing puts the renewal: a year or so ahead of whenever the tests run.
RENEWAL = (datetime.now(UTC) + timedelta(days=400)).date()


def subscription_event(
    customer: str,
    *,
    created: int,
    quantity: int = 12,
    interval: str = "year",
    cancel: bool = False,
    kind: str = "customer.subscription.updated",
) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": kind,
        "created": created,
        "data": {
            "object": {
                "id": "sub_1",
                "object": "subscription",
                "customer": customer,
                "status": "active",
                "currency": "usd",
                "cancel_at_period_end": cancel,
                "current_period_end": int(
                    datetime.combine(RENEWAL, datetime.min.time(), UTC).timestamp()
                ),
                "items": {
                    "data": [
                        {
                            "quantity": quantity,
                            "price": {
                                "unit_amount": 12_000,
                                "currency": "usd",
                                "recurring": {"interval": interval, "interval_count": 1},
                            },
                        }
                    ]
                },
            }
        },
    }


async def post_stripe(
    platform: Platform, source_id: str, secret: str, event: dict[str, Any], **sign: Any
) -> httpx.Response:
    payload = orjson.dumps(event).decode()
    header = WebhookSignature.generate_signature_header(payload, secret, **sign)
    async with httpx.AsyncClient(base_url=platform.ingest.url) as client:
        return await client.post(
            f"/v1/webhooks/stripe/{source_id}",
            content=payload,
            headers={"Stripe-Signature": header, "Content-Type": "application/json"},
        )


async def test_stripe_subscription_updates_the_mapped_account(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    src = await source(ingest, "stripe")
    customer = f"cus_{uuid.uuid4().hex[:10]}"
    account_id = new_id()
    await ingest.put(f"/v1/accounts/{account_id}", json=account(stripe_customer_id=customer))
    event = subscription_event(customer, created=int(time.time()), cancel=True)
    first = await post_stripe(platform, src["id"], src["signing_secret"], event)
    assert first.status_code == 200
    assert first.json()["applied"] is True
    again = await post_stripe(platform, src["id"], src["signing_secret"], event)
    assert again.json()["duplicate"] is True

    stored = (await ingest.get(f"/v1/accounts/{account_id}")).json()
    assert stored["seats_purchased"] == 12
    assert stored["billing_period"] == "annual"
    assert stored["mrr_minor"] == 12_000  # 12 seats x 120.00 a year = 120.00 a month
    assert stored["currency"] == "USD"
    assert stored["cancel_intent"] is True
    assert stored["renewal_date"] == RENEWAL.isoformat()

    older = subscription_event(customer, created=int(time.time()) - 3600, quantity=3)
    assert (await post_stripe(platform, src["id"], src["signing_secret"], older)).status_code == 200
    assert (await ingest.get(f"/v1/accounts/{account_id}")).json()["seats_purchased"] == 12


async def test_bad_or_stale_signatures_store_nothing(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    src = await source(ingest, "stripe")
    customer = f"cus_{uuid.uuid4().hex[:10]}"
    account_id = new_id()
    await ingest.put(f"/v1/accounts/{account_id}", json=account(stripe_customer_id=customer))
    event = subscription_event(customer, created=int(time.time()), quantity=77)
    wrong = await post_stripe(platform, src["id"], "whsec_wrong", event)
    assert wrong.status_code == 401
    assert wrong.headers["content-type"] == "application/problem+json"
    assert wrong.json()["type"] == "https://tenure.dev/problems/invalid-signature"
    stale = await post_stripe(
        platform, src["id"], src["signing_secret"], event, timestamp=int(time.time()) - 301
    )
    assert stale.status_code == 401
    async with httpx.AsyncClient(base_url=platform.ingest.url) as client:
        unsigned = await client.post(f"/v1/webhooks/stripe/{src['id']}", json=event)
    assert unsigned.status_code == 400
    assert (await ingest.get(f"/v1/accounts/{account_id}")).json()["seats_purchased"] == 40
    # The same event, correctly signed, is still new: nothing was stored before.
    ok = await post_stripe(platform, src["id"], src["signing_secret"], event)
    assert ok.json()["applied"] is True


async def test_rotation_keeps_the_previous_secret_valid(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    src = await source(ingest, "stripe")
    rotated = (await ingest.post(f"/v1/sources/{src['id']}/rotate")).json()
    customer = f"cus_{uuid.uuid4().hex[:10]}"
    for secret in (src["signing_secret"], rotated["signing_secret"]):
        event = subscription_event(customer, created=int(time.time()))
        response = await post_stripe(platform, src["id"], secret, event)
        assert response.status_code == 200
        assert response.json()["pending"] is True


async def test_events_for_unmapped_customers_apply_when_the_mapping_arrives(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    src = await source(ingest, "stripe")
    customer = f"cus_{uuid.uuid4().hex[:10]}"
    now = int(time.time())
    sub = subscription_event(customer, created=now - 60, quantity=30, interval="month")
    failed = {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": "invoice.payment_failed",
        "created": now,
        "data": {"object": {"object": "invoice", "customer": customer}},
    }
    for event in (sub, failed):
        response = await post_stripe(platform, src["id"], src["signing_secret"], event)
        assert response.json()["pending"] is True

    account_id = await make_account(ingest)
    mapped = await ingest.put(
        f"/v1/accounts/{account_id}", json=account(stripe_customer_id=customer)
    )
    assert mapped.status_code == 200
    stored = mapped.json()
    assert stored["seats_purchased"] == 30
    assert stored["billing_period"] == "monthly"
    assert stored["mrr_minor"] == 360_000
    today = datetime.fromtimestamp(now, UTC).date().isoformat()
    body = {"account_ids": [account_id], "days": 2, "as_of": today}
    rollups = (await ingest.post("/v1/signals/query", json=body)).json()["accounts"][0]["rollups"]
    assert sum(r["payment_failures"] for r in rollups) == 1


async def test_unhandled_stripe_types_are_acknowledged_and_ignored(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    src = await source(ingest, "stripe")
    event = {
        "id": "evt_x",
        "type": "charge.refunded",
        "created": int(time.time()),
        "data": {"object": {}},
    }
    response = await post_stripe(platform, src["id"], src["signing_secret"], event)
    assert response.json()["ignored"] is True


async def post_standard(
    platform: Platform, source_id: str, secret: str, body: dict[str, Any], msg_id: str | None = None
) -> httpx.Response:
    payload = orjson.dumps(body).decode()
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, now, payload)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "Content-Type": "application/json",
    }
    async with httpx.AsyncClient(base_url=platform.ingest.url) as client:
        return await client.post(f"/v1/webhooks/{source_id}", content=payload, headers=headers)


async def test_standard_webhooks_generic_events(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    src = await source(ingest, "standard_webhooks")
    account_id = await make_account(ingest)
    secret = src["signing_secret"]
    sub = {
        "type": "subscription.updated",
        "data": {"account_id": account_id, "seats_purchased": 90, "cancel_intent": True},
    }
    msg_id = f"msg_{uuid.uuid4().hex}"
    first = await post_standard(platform, src["id"], secret, sub, msg_id)
    assert first.json()["applied"] is True
    assert (await post_standard(platform, src["id"], secret, sub, msg_id)).json()["duplicate"]
    ticket = {
        "type": "ticket.opened",
        "data": {"account_id": account_id, "ticket_id": "T-1", "severity": "urgent"},
    }
    assert (await post_standard(platform, src["id"], secret, ticket)).json()["applied"]
    survey = {
        "type": "survey.responded",
        "data": {
            "account_id": account_id,
            "id": f"s-{uuid.uuid4().hex}",
            "kind": "nps",
            "score": 2,
        },
    }
    assert (await post_standard(platform, src["id"], secret, survey)).json()["applied"]

    stored = (await ingest.get(f"/v1/accounts/{account_id}")).json()
    assert stored["seats_purchased"] == 90
    assert stored["cancel_intent"] is True
    query = {"account_ids": [account_id], "days": 1}
    support = (await ingest.post("/v1/signals/query", json=query)).json()["accounts"][0]["support"]
    assert support["open_tickets"] == {"urgent": 1}
    assert support["nps"]["score"] == 2


async def test_standard_webhooks_refuse_bad_signatures_and_bad_data(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    src = await source(ingest, "standard_webhooks")
    body = {"type": "payment.failed", "data": {"account_id": "a"}}
    other = "whsec_" + "A" * 43
    assert (await post_standard(platform, src["id"], other, body)).status_code == 401
    async with httpx.AsyncClient(base_url=platform.ingest.url) as client:
        garbled = await client.post(
            f"/v1/webhooks/{src['id']}",
            json=body,
            headers={"webhook-id": "m", "webhook-timestamp": "nope", "webhook-signature": "v1"},
        )
    assert garbled.status_code == 400
    bad = {"type": "subscription.updated", "data": {"account_id": "a", "seats_purchased": -1}}
    response = await post_standard(platform, src["id"], src["signing_secret"], bad)
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/data/seats_purchased"
    unknown = await post_standard(
        platform, src["id"], src["signing_secret"], {"type": "x", "data": {}}
    )
    assert unknown.status_code == 422
    async with httpx.AsyncClient(base_url=platform.ingest.url) as client:
        missing = await client.post(f"/v1/webhooks/{uuid.uuid4()}", json=body)
    assert missing.status_code == 404


async def test_once_billing_has_reported_a_crm_upsert_does_not_overwrite_its_fields(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    src = await source(ingest, "stripe")
    customer = f"cus_{uuid.uuid4().hex[:10]}"
    account_id = new_id()
    crm = account(stripe_customer_id=customer, seats_purchased=5, name="Acme")
    created = (await ingest.put(f"/v1/accounts/{account_id}", json=crm)).json()
    assert (created["seats_purchased"], created["billing_updated_at"]) == (5, None)
    event = subscription_event(customer, created=int(time.time()), quantity=30)
    assert (await post_stripe(platform, src["id"], src["signing_secret"], event)).status_code == 200

    # The CRM still holds its stale copy of the subscription; its own fields still apply.
    again = await ingest.put(
        f"/v1/accounts/{account_id}", json={**crm, "seats_purchased": 5, "name": "Acme Inc"}
    )
    assert again.status_code == 200
    stored = again.json()
    assert (stored["seats_purchased"], stored["billing_period"]) == (30, "annual")
    assert stored["name"] == "Acme Inc"
    assert stored["billing_updated_at"] is not None


MALFORMED = "https://tenure.dev/problems/malformed-signature"


async def test_every_malformed_stripe_signature_header_is_a_400_naming_it(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    src = await source(ingest, "stripe")
    payload = orjson.dumps(subscription_event("cus_x", created=int(time.time())))
    now = int(time.time())
    hex64 = "0" * 64
    headers = [
        f"t={'9' * 400},v1={hex64}",  # a 400-digit timestamp
        f"t={now},v1={'é' * 64}",  # non-ASCII signature (sent as UTF-8 bytes)
        f"t={now}",  # no signature
        f"v1={hex64}",  # no timestamp
        f"t=soon,v1={hex64}",
        f"t={now},v1=abc",
    ]
    async with httpx.AsyncClient(base_url=platform.ingest.url) as client:
        for header in headers:
            response = await client.post(
                f"/v1/webhooks/stripe/{src['id']}",
                content=payload,
                headers=[(b"Stripe-Signature", header.encode())],
            )
            assert response.status_code == 400, header
            problem = response.json()
            assert problem["type"] == MALFORMED
            assert problem["errors"][0]["parameter"] == "Stripe-Signature"


async def test_every_malformed_standard_webhooks_header_is_a_400_naming_it(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    src = await source(ingest, "standard_webhooks")
    payload = orjson.dumps({"type": "payment.failed", "data": {"account_id": "a"}})
    stamp = str(int(time.time()))
    good = {"webhook-id": "msg_1", "webhook-timestamp": stamp, "webhook-signature": "v1,AAAA"}
    cases = [
        ("webhook-signature", "v1,!!!not-base64!!!"),
        ("webhook-signature", "v2,AAAA"),  # wrong version
        ("webhook-signature", "v1,AAAAé=="),  # non-ASCII
        ("webhook-signature", "v1"),
        ("webhook-timestamp", "9" * 400),  # huge
        ("webhook-timestamp", "soon"),  # not a number
        ("webhook-id", "m" * 201),
        ("webhook-id", "msé"),
    ]
    async with httpx.AsyncClient(base_url=platform.ingest.url) as client:
        for name, value in cases:
            headers = [(k.encode(), v.encode()) for k, v in {**good, name: value}.items()]
            response = await client.post(
                f"/v1/webhooks/{src['id']}", content=payload, headers=headers
            )
            assert response.status_code == 400, (name, value)
            problem = response.json()
            assert problem["type"] == MALFORMED
            assert problem["errors"][0]["parameter"] == name
        # Readable headers that no secret of the source signed: 401, not 400.
        headers = [(k.encode(), v.encode()) for k, v in good.items()]
        unsigned = await client.post(f"/v1/webhooks/{src['id']}", content=payload, headers=headers)
        assert unsigned.status_code == 401
        assert unsigned.json()["type"] == "https://tenure.dev/problems/invalid-signature"


async def test_a_pending_event_that_cannot_apply_is_rejected_and_never_poisons_the_account(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    src = await source(ingest, "standard_webhooks")
    secret = src["signing_secret"]
    account_id = new_id()
    # Renews before the contract the CRM will report starts: it can never apply as it is.
    early_renewal = {
        "type": "subscription.updated",
        "data": {"account_id": account_id, "seats_purchased": 90, "renewal_date": "2025-06-01"},
    }
    assert (await post_standard(platform, src["id"], secret, early_renewal)).json()["pending"]

    created = await ingest.put(f"/v1/accounts/{account_id}", json=account())
    assert created.status_code == 201
    assert created.json()["seats_purchased"] == 40
    assert (await ingest.put(f"/v1/accounts/{account_id}", json=account())).status_code == 200

    listed = await ingest.get("/v1/rejected", params={"source": f"webhook:{src['id']}"})
    kept = listed.json()["items"]
    assert len(kept) == 1  # rejected once, not again on every later upsert
    assert "contract start" in kept[0]["reason"]
    assert kept[0]["raw"] == early_renewal

    # Once the CRM's contract start is fixed, the replay applies it.
    fixed = await ingest.put(
        f"/v1/accounts/{account_id}", json=account(contract_start="2025-01-01")
    )
    assert fixed.status_code == 200
    replayed = await ingest.post(f"/v1/rejected/{kept[0]['id']}/replay")
    assert replayed.json()["outcome"] == "accepted"
    stored = (await ingest.get(f"/v1/accounts/{account_id}")).json()
    assert (stored["seats_purchased"], stored["renewal_date"]) == (90, "2025-06-01")


async def test_a_live_event_that_cannot_apply_is_kept_rejected_and_values_past_the_columns_refused(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    src = await source(ingest, "standard_webhooks")
    secret = src["signing_secret"]
    account_id = await make_account(ingest)
    early_renewal = {
        "type": "subscription.updated",
        "data": {"account_id": account_id, "renewal_date": "2025-06-01"},
    }
    response = await post_standard(platform, src["id"], secret, early_renewal)
    assert response.status_code == 200
    assert (response.json()["rejected"], response.json()["applied"]) == (True, False)
    assert "contract start" in response.json()["reason"]

    for name, value in (("seats_purchased", 3_000_000_000), ("mrr_minor", 2**63)):
        too_big = {"type": "subscription.updated", "data": {"account_id": new_id(), name: value}}
        refused = await post_standard(platform, src["id"], secret, too_big)
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["pointer"] == f"/data/{name}"

    stripe_src = await source(ingest, "stripe")
    seats = subscription_event("cus_big", created=int(time.time()), quantity=3_000_000_000)
    refused = await post_stripe(platform, stripe_src["id"], stripe_src["signing_secret"], seats)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["pointer"] == "/data/object/items/quantity"
    for broken in (
        {**seats, "created": 2**62},
        {**seats, "data": "nope"},
        {**seats, "data": {"object": {"customer": "c", "items": []}}},
        {**seats, "data": {"object": {"customer": "c", "items": {"data": ["x"]}}}},
    ):
        refused = await post_stripe(
            platform, stripe_src["id"], stripe_src["signing_secret"], broken
        )
        assert refused.status_code == 422, broken


async def test_webhooks_are_deduplicated_per_source(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    account_id = await make_account(ingest)
    first, second = [await source(ingest, "standard_webhooks") for _ in range(2)]
    failed = {"type": "payment.failed", "data": {"account_id": account_id}}
    msg_id = f"msg_{uuid.uuid4().hex}"
    for src in (first, second):
        sent = await post_standard(platform, src["id"], src["signing_secret"], failed, msg_id)
        assert sent.json()["applied"] is True
    again = await post_standard(platform, first["id"], first["signing_secret"], failed, msg_id)
    assert again.json()["duplicate"] is True

    # Two Stripe sources (two Stripe accounts) may reuse an event id too.
    customer = f"cus_{uuid.uuid4().hex[:10]}"
    await ingest.put(f"/v1/accounts/{account_id}", json=account(stripe_customer_id=customer))
    invoice = {
        "id": msg_id,  # the same id the Standard Webhooks sources used
        "type": "invoice.payment_failed",
        "created": int(time.time()),
        "data": {"object": {"object": "invoice", "customer": customer}},
    }
    stripe_sources = [await source(ingest, "stripe") for _ in range(2)]
    for src in stripe_sources:
        sent = await post_stripe(platform, src["id"], src["signing_secret"], invoice)
        assert sent.json()["applied"] is True
    repeat = await post_stripe(
        platform, stripe_sources[1]["id"], stripe_sources[1]["signing_secret"], invoice
    )
    assert repeat.json()["duplicate"] is True

    today = datetime.now(UTC).date().isoformat()
    body = {"account_ids": [account_id], "days": 2, "as_of": today}
    rollups = (await ingest.post("/v1/signals/query", json=body)).json()["accounts"][0]["rollups"]
    assert sum(r["payment_failures"] for r in rollups) == 4


async def test_disabling_a_source_keeps_the_first_time_and_stops_its_webhooks(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    src = await source(ingest, "standard_webhooks")
    first = await ingest.post(f"/v1/sources/{src['id']}/disable")
    assert first.status_code == 200
    again = await ingest.post(f"/v1/sources/{src['id']}/disable")
    assert again.json()["disabled_at"] == first.json()["disabled_at"]
    body = {"type": "payment.failed", "data": {"account_id": "a"}}
    assert (
        await post_standard(platform, src["id"], src["signing_secret"], body)
    ).status_code == 404
    assert (await ingest.post(f"/v1/sources/{uuid.uuid4()}/disable")).status_code == 404


async def test_a_webhook_body_past_the_batch_limit_is_a_413_after_its_source_is_found(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    src = await source(ingest, "stripe")
    oversized = b"{" + b" " * 1_000_000 + b"}"  # max_batch_bytes is 1,000,000
    async with httpx.AsyncClient(base_url=platform.ingest.url) as client:
        too_large = await client.post(f"/v1/webhooks/stripe/{src['id']}", content=oversized)
        unknown = await client.post(f"/v1/webhooks/stripe/{uuid.uuid4()}", content=oversized)
    assert too_large.status_code == 413
    assert unknown.status_code == 404  # the source is looked up before the body is read
