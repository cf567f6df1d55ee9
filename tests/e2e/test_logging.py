"""Logs are JSON, follow a request across services, and never hold a secret."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid

import httpx
import orjson
from stripe import WebhookSignature

from tests.conftest import make_key, service_keys
from tests.e2e.test_accounts import account, new_id
from tests.e2e.test_outbox_to_scoring import wait_for_score
from tests.support import ServiceProcess


async def test_a_request_id_follows_the_request_and_no_secret_is_logged(
    fresh_database: str,
) -> None:
    keys = await service_keys(fresh_database)
    admin = await make_key(fresh_database, "admin")
    info = {"TENURE_LOG_LEVEL": "INFO"}
    scoring = ServiceProcess(
        "scoring", fresh_database, env={**info, "TENURE_SERVICE_API_KEY": keys["scoring"]}
    )
    ingest = ServiceProcess(
        "ingest",
        fresh_database,
        env={**info, "TENURE_SERVICE_API_KEY": keys["ingest"], "TENURE_SCORING_URL": scoring.url},
    )
    scoring.env["TENURE_INGEST_URL"] = ingest.url
    await asyncio.gather(asyncio.to_thread(scoring.start), asyncio.to_thread(ingest.start))
    trace = f"trace-{uuid.uuid4().hex}"
    headers = {"Authorization": f"Bearer {admin}"}
    try:
        async with httpx.AsyncClient(base_url=ingest.url, headers=headers) as client:
            account_id = new_id()
            put = await client.put(
                f"/v1/accounts/{account_id}", json=account(), headers={"X-Request-ID": trace}
            )
            assert put.headers["x-request-id"] == trace
            segment = (
                await client.post("/v1/sources", json={"kind": "segment", "name": "w"})
            ).json()
            stripe = (await client.post("/v1/sources", json={"kind": "stripe", "name": "s"})).json()
            basic = base64.b64encode(f"{segment['write_key']}:".encode()).decode()
            await client.post(
                "/v1/track",
                json={"messageId": "m1", "userId": "u", "event": "login"},
                headers={"Authorization": f"Basic {basic}"},
            )
            payload = orjson.dumps(
                {
                    "id": "evt_1",
                    "type": "invoice.paid",
                    "created": int(time.time()),
                    "data": {"object": {"customer": "cus_1"}},
                }
            ).decode()
            signature = WebhookSignature.generate_signature_header(
                payload, stripe["signing_secret"]
            )
            signed = await client.post(
                f"/v1/webhooks/stripe/{stripe['id']}",
                content=payload,
                headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
            )
            assert signed.status_code == 200
            unauthorised = await client.get(
                "/v1/accounts", headers={"Authorization": "Bearer tnr_bogus"}
            )
            assert unauthorised.status_code == 401
        async with httpx.AsyncClient(base_url=scoring.url, headers=headers) as client:
            await wait_for_score(client, account_id)
    finally:
        ingest.stop()
        scoring.stop()

    assert ingest.log_path is not None
    assert scoring.log_path is not None
    ingest_log = ingest.log_path.read_text()
    scoring_log = scoring.log_path.read_text()
    records = [
        orjson.loads(line)
        for text in (ingest_log, scoring_log)
        for line in text.splitlines()
        if line.startswith("{")
    ]
    assert records
    assert all("level" in r and "timestamp" in r and "service" in r for r in records)
    access = [r for r in records if r.get("event") == "request" and r.get("request_id") == trace]
    # ingest handled the request; scoring handled the outbox delivery it caused.
    assert sorted(r["service"] for r in access) == ["ingest", "scoring"]
    received = [r for r in records if r.get("event") == "message_received"]
    assert any(r["origin_request_id"] == trace and r["service"] == "scoring" for r in received)

    secrets = [
        admin,
        segment["write_key"],
        stripe["signing_secret"],
        signature,
        basic,
        keys["ingest"],
        keys["scoring"],
        "tnr_bogus",
    ]
    for secret in secrets:
        assert secret not in ingest_log
        assert secret not in scoring_log
