"""The service client retries only what is safe to retry, and passes key and request id on."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import stamina

from shared.http import ServiceClient
from shared.logging import reset_request_id, set_request_id


@pytest.fixture(autouse=True)
def no_backoff_waits() -> Iterator[None]:
    stamina.set_testing(True, attempts=4)
    yield
    stamina.set_testing(False)


def flaky(
    failures: list[int | type[httpx.TransportError]],
) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """A peer that fails as listed (a status, or a transport error), then answers 200."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if failures:
            failure = failures.pop(0)
            if isinstance(failure, int):
                return httpx.Response(failure)
            raise failure("down", request=request)
        return httpx.Response(200, json={"ok": True})

    return httpx.MockTransport(handler), seen


async def test_safe_requests_are_retried_on_transport_errors_and_503() -> None:
    transport, seen = flaky([httpx.ConnectError, 503])
    client = ServiceClient("http://peer", "tnr_key", transport=transport)
    token = set_request_id("trace-1")
    try:
        response = await client.request("GET", "/v1/thing")
    finally:
        reset_request_id(token)
        await client.aclose()
    assert response.status_code == 200
    assert len(seen) == 3
    assert all(r.headers["authorization"] == "Bearer tnr_key" for r in seen)
    assert all(r.headers["x-request-id"] == "trace-1" for r in seen)


async def test_unsafe_requests_are_not_retried() -> None:
    transport, seen = flaky([503])
    client = ServiceClient("http://peer", "tnr_key", transport=transport)
    try:
        response = await client.request("POST", "/v1/thing", json={})
    finally:
        await client.aclose()
    assert response.status_code == 503
    assert len(seen) == 1


async def test_idempotent_posts_are_retried_and_client_errors_are_not() -> None:
    transport, seen = flaky([502, 400])
    client = ServiceClient("http://peer", "tnr_key", transport=transport)
    try:
        response = await client.request("POST", "/v1/notifications", idempotent=True, json={})
    finally:
        await client.aclose()
    assert response.status_code == 400  # a 4xx is an answer, not a failure to retry
    assert len(seen) == 2
