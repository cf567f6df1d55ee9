"""gzip and deflate request bodies on the Segment routes and native events, bounded inflated.

Also the Segment routes' error bodies, which carry the ``code`` and ``message`` members the
analytics SDKs read when a call fails.
"""

from __future__ import annotations

import asyncio
import gzip
import zlib
from datetime import UTC, datetime

import httpx
import orjson
import pytest
from segment.analytics import Client
from segment.analytics.request import APIError

from tests.conftest import Platform
from tests.e2e.test_accounts import new_id
from tests.e2e.test_events import make_account
from tests.e2e.test_segment import basic, segment_source


def credentials(path: str, write_key: str) -> dict[str, str]:
    """Segment routes take the write key; native events the client's own admin key."""
    return {} if path == "/v1/events" else basic(write_key)


def bomb(size: int) -> bytes:
    """``size`` bytes of zeros, gzipped (about a thousandth of that)."""
    return gzip.compress(b"\0" * size, compresslevel=9)


async def test_the_segment_sdk_with_gzip_on_delivers(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    account_id = await make_account(ingest)
    write_key = await segment_source(ingest)
    user = new_id("user")

    def send() -> None:
        client = Client(write_key, host=platform.ingest.url, sync_mode=True, gzip=True)
        client.group(user, account_id, {"name": "Acme"})
        client.identify(user, {"email": "gz@example.com"})
        client.flush()

    await asyncio.to_thread(send)
    stored = (await ingest.get(f"/v1/users/{user}")).json()
    assert stored["account_id"] == account_id
    assert stored["traits"]["email"] == "gz@example.com"


async def test_a_gzip_batch_and_a_deflate_message_land(ingest: httpx.AsyncClient) -> None:
    write_key = await segment_source(ingest)
    user = new_id("user")
    now = datetime.now(UTC).isoformat()
    batch = {
        "batch": [
            {"type": "identify", "userId": user, "traits": {"plan": "gz"}, "messageId": new_id()},
            {"type": "track", "userId": user, "event": "login", "messageId": new_id()},
        ],
        "sentAt": now,
    }
    headers = {**basic(write_key), "Content-Type": "application/json"}
    gz = await ingest.post(
        "/v1/batch",
        content=gzip.compress(orjson.dumps(batch)),
        headers={**headers, "Content-Encoding": "gzip"},
    )
    assert gz.status_code == 200, gz.text
    message = {"userId": user, "event": "report_created", "messageId": new_id()}
    deflated = await ingest.post(
        "/v1/track",
        content=zlib.compress(orjson.dumps(message)),
        headers={**headers, "Content-Encoding": "deflate"},
    )
    assert deflated.status_code == 200, deflated.text
    assert (await ingest.get(f"/v1/users/{user}")).json()["traits"]["plan"] == "gz"


async def test_a_gzip_native_batch_lands(ingest: httpx.AsyncClient) -> None:
    account_id = await make_account(ingest)
    events = {
        "events": [
            {
                "id": new_id("evt"),
                "account_id": account_id,
                "user_id": "u1",
                "name": "login",
                "timestamp": datetime.now(UTC).isoformat(),
            }
        ]
    }
    response = await ingest.post(
        "/v1/events",
        content=gzip.compress(orjson.dumps(events)),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1


@pytest.mark.parametrize("path", ["/v1/batch", "/v1/track", "/v1/events"])
async def test_a_gzip_bomb_is_a_413(ingest: httpx.AsyncClient, path: str) -> None:
    write_key = await segment_source(ingest)
    response = await ingest.post(
        path,
        content=bomb(50 * 1024 * 1024),
        headers={
            **credentials(path, write_key),
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        },
    )
    assert response.status_code == 413, response.text
    assert response.json()["type"].endswith("/payload-too-large")


@pytest.mark.parametrize(
    ("path", "encoding"),
    [("/v1/batch", "br"), ("/v1/events", "compress"), ("/v1/accounts/x", "gzip")],
)
async def test_an_encoding_the_route_does_not_take_is_a_415(
    ingest: httpx.AsyncClient, path: str, encoding: str
) -> None:
    method = "PUT" if path.startswith("/v1/accounts") else "POST"
    response = await ingest.request(
        method,
        path,
        content=gzip.compress(b"{}"),
        headers={"Content-Type": "application/json", "Content-Encoding": encoding},
    )
    assert response.status_code == 415
    assert response.json()["errors"][0]["parameter"] == "Content-Encoding"


@pytest.mark.parametrize(
    "body",
    [b"not gzip at all", gzip.compress(b'{"batch": []}')[:-12], b"\x1f\x8b\x08\x00garbage"],
)
async def test_a_corrupt_or_truncated_gzip_body_is_a_400(
    ingest: httpx.AsyncClient, body: bytes
) -> None:
    write_key = await segment_source(ingest)
    for path in ("/v1/batch", "/v1/events"):
        response = await ingest.post(
            path,
            content=body,
            headers={
                **credentials(path, write_key),
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
            },
        )
        assert response.status_code == 400, (path, response.text)
        assert response.json()["errors"][0]["parameter"] == "Content-Encoding"


async def test_segment_errors_carry_code_and_message_for_the_sdks(
    platform: Platform, ingest: httpx.AsyncClient
) -> None:
    unknown = await ingest.post(
        "/v1/track", json={"userId": "u", "event": "e"}, headers=basic("wk_not-a-key")
    )
    assert unknown.status_code == 401
    problem = unknown.json()
    assert problem["type"].endswith("/unauthorized")
    assert (problem["code"], problem["message"]) == ("unauthorized", problem["detail"])
    assert int(unknown.headers["content-length"]) == len(unknown.content)

    def send() -> APIError:
        client = Client("wk_not-a-key", host=platform.ingest.url, sync_mode=True, max_retries=0)
        with pytest.raises(APIError) as failed:
            client.track("u", "e")
        return failed.value

    error = await asyncio.to_thread(send)
    assert (error.status, error.code) == (401, "unauthorized")
    assert "write key" in error.message
