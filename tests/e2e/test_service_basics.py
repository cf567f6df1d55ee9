"""What every service shows a caller: health, readiness, metrics, auth and problem details."""

from __future__ import annotations

import httpx
import pytest

from shared.errors import problem_type
from tests.conftest import Platform, make_key

SERVICES = ("ingest", "scoring", "offers", "ledger")


@pytest.mark.parametrize("service", SERVICES)
async def test_health_and_readiness_need_no_key(platform: Platform, service: str) -> None:
    url = getattr(platform, service).url
    async with httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["migrations"]["current"] == ready.json()["migrations"]["head"]


@pytest.mark.parametrize("service", SERVICES)
async def test_missing_key_is_a_401_problem(platform: Platform, service: str) -> None:
    async with httpx.AsyncClient(base_url=getattr(platform, service).url) as client:
        response = await client.get("/v1/api-keys")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 401
    assert body["title"] == "Unauthorized"
    assert body["request_id"] == response.headers["x-request-id"]


async def test_unknown_key_is_401_and_wrong_scope_is_403(platform: Platform) -> None:
    async with platform.client("ingest", key="tnr_not-a-real-key") as client:
        assert (await client.get("/v1/accounts")).status_code == 401
    reader = await make_key(platform.database_url, "scores:read")
    async with platform.client("ingest", key=reader) as client:
        response = await client.get("/v1/accounts")
    assert response.status_code == 403
    assert "ingest:read" in response.json()["detail"]


async def test_one_key_works_on_every_service_within_its_scopes(platform: Platform) -> None:
    key = await make_key(platform.database_url, "ingest:read", "scores:read")
    async with platform.client("ingest", key=key) as client:
        assert (await client.get("/v1/accounts")).status_code == 200
    async with platform.client("scoring", key=key) as client:
        assert (await client.get("/v1/account-changes")).status_code == 200
        assert (await client.get("/v1/api-keys")).status_code == 403


async def test_created_key_works_and_stops_working_once_revoked(platform: Platform) -> None:
    async with platform.client("offers") as admin:
        created = await admin.post(
            "/v1/api-keys", json={"principal": "crm-sync", "scopes": ["ingest:read"]}
        )
        assert created.status_code == 201
        body = created.json()
        assert body["key"].startswith("tnr_")
        async with platform.client("ingest", key=body["key"]) as crm:
            assert (await crm.get("/v1/accounts")).status_code == 200
            revoked = await admin.delete(f"/v1/api-keys/{body['id']}")
            assert revoked.json()["revoked_at"] is not None
            response = await crm.get("/v1/accounts")
        assert response.status_code == 401
        assert "revoked" in response.json()["detail"]
        listed = (await admin.get("/v1/api-keys", params={"limit": 500})).json()["items"]
    mine = next(k for k in listed if k["id"] == body["id"])
    assert "key" not in mine
    assert mine["last_used_at"] is not None


async def test_unknown_scope_names_the_field(platform: Platform) -> None:
    async with platform.client("ingest") as admin:
        response = await admin.post("/v1/api-keys", json={"principal": "x", "scopes": ["root"]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/scopes"


async def test_404_and_405_are_problems(ingest: httpx.AsyncClient) -> None:
    missing = await ingest.get("/v1/no-such-thing")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["type"] == problem_type("not-found")
    wrong = await ingest.delete("/v1/accounts")
    assert wrong.status_code == 405
    assert wrong.headers["content-type"] == "application/problem+json"
    assert wrong.json()["type"] == problem_type("method-not-allowed")


@pytest.mark.parametrize(
    ("service", "path"),
    [("ingest", "/v1/events"), ("ledger", "/v1/grants"), ("ingest", "/v1/tickets")],
)
async def test_a_body_that_is_not_json_is_malformed_json_on_every_route(
    platform: Platform, service: str, path: str
) -> None:
    async with platform.client(service) as client:
        for body in (b"{not json", b"\xff\xfe", b'{"a": ' * 5000):
            response = await client.post(
                path,
                content=body,
                headers={"Content-Type": "application/json", "Idempotency-Key": "k"},
            )
            assert response.status_code == 400, (path, body[:10], response.text)
            assert response.json()["type"] == problem_type("malformed-json")


@pytest.mark.parametrize(
    "principal",
    [
        "service:ingest",
        " service:ingest",
        "tenure",
        "policy:auto",
        "ledger",
        "Ann",
        "ann ",
        "ann\u200b",
        "ann lee",
    ],
)
async def test_a_principal_is_one_name_and_the_platforms_own_are_reserved(
    platform: Platform, principal: str
) -> None:
    async with platform.client("ingest") as admin:
        response = await admin.post(
            "/v1/api-keys", json={"principal": principal, "scopes": ["ingest:read"]}
        )
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/principal"


async def test_request_id_is_echoed(ingest: httpx.AsyncClient) -> None:
    response = await ingest.get("/v1/accounts", headers={"X-Request-ID": "trace-abc-123"})
    assert response.headers["x-request-id"] == "trace-abc-123"


async def test_metrics_count_requests_by_route(ingest: httpx.AsyncClient) -> None:
    await ingest.get("/v1/accounts")
    text = (await ingest.get("/metrics")).text
    assert 'route="/v1/accounts"' in text
    assert "tenure_http_request_duration_seconds_bucket" in text
    assert "tenure_outbox_backlog" in text


async def test_bad_cursor_is_a_400_naming_the_parameter(ingest: httpx.AsyncClient) -> None:
    response = await ingest.get("/v1/accounts", params={"cursor": "%%%nope"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["parameter"] == "cursor"


async def test_limit_over_500_is_refused(ingest: httpx.AsyncClient) -> None:
    response = await ingest.get("/v1/accounts", params={"limit": 501})
    assert response.status_code == 422
    assert response.json()["errors"][0]["parameter"] == "limit"


@pytest.mark.parametrize("service", SERVICES)
async def test_openapi_lists_the_shared_refusals(platform: Platform, service: str) -> None:
    async with httpx.AsyncClient(base_url=getattr(platform, service).url) as client:
        spec = (await client.get("/openapi.json")).json()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            listed = operation["responses"]
            if "requestBody" in operation:
                assert {"413", "415"} <= set(listed), (method, path)
            if any(p["name"] == "cursor" for p in operation.get("parameters", [])):
                assert "400" in listed, (method, path)
            if "401" in listed:  # a keyed route: its key may run out of requests
                assert "429" in listed, (method, path)
