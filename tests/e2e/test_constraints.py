"""Rules the database keeps are the caller's errors (4xx naming the field), never a 500."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import httpx

from tests.conftest import Platform
from tests.e2e.test_accounts import account, new_id
from tests.e2e.test_webhooks import RENEWAL, post_stripe, source, subscription_event


async def test_a_stripe_customer_id_taken_by_another_account_is_a_409_naming_it(
    ingest: httpx.AsyncClient,
) -> None:
    customer = f"cus_{uuid.uuid4().hex[:10]}"
    first, second = new_id(), new_id()
    put = await ingest.put(f"/v1/accounts/{first}", json=account(stripe_customer_id=customer))
    assert put.status_code == 201
    clash = await ingest.put(f"/v1/accounts/{second}", json=account(stripe_customer_id=customer))
    assert clash.status_code == 409
    assert clash.headers["content-type"] == "application/problem+json"
    problem = clash.json()
    assert problem["type"].endswith("/duplicate")
    assert problem["errors"][0]["pointer"] == "/stripe_customer_id"
    assert customer not in clash.text  # the conflicting value is not echoed
    assert (await ingest.get(f"/v1/accounts/{second}")).status_code == 404
    owner = (await ingest.get(f"/v1/accounts/{first}")).json()
    assert owner["stripe_customer_id"] == customer


async def test_a_contract_start_after_the_billing_renewal_date_is_a_422(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    src = await source(ingest, "stripe")
    customer = f"cus_{uuid.uuid4().hex[:10]}"
    account_id = new_id()
    crm = account(stripe_customer_id=customer)
    assert (await ingest.put(f"/v1/accounts/{account_id}", json=crm)).status_code == 201
    # Billing now owns the renewal date (RENEWAL, about 400 days ahead).
    event = subscription_event(customer, created=int(time.time()))
    assert (await post_stripe(platform, src["id"], src["signing_secret"], event)).status_code == 200

    # Valid on its own (renewal after start), but the start is after billing's renewal date.
    start = (RENEWAL + timedelta(days=150)).isoformat()
    renewal = (RENEWAL + timedelta(days=515)).isoformat()
    late = {**crm, "contract_start": start, "renewal_date": renewal, "name": "Later"}
    response = await ingest.put(f"/v1/accounts/{account_id}", json=late)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "renewal" in response.text
    stored = (await ingest.get(f"/v1/accounts/{account_id}")).json()
    assert (stored["name"], stored["contract_start"]) == (crm["name"], crm["contract_start"])
