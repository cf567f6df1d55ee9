"""The client services use to call each other: timeouts, safe retries, key and request id."""

from __future__ import annotations

from typing import Any

import httpx
import stamina

from shared.logging import REQUEST_ID_HEADER, current_request_id

_RETRY_STATUSES = frozenset({502, 503, 504})


class RetryableStatus(Exception):
    """A response that says the call may succeed if made again."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"{response.request.url} answered {response.status_code}")
        self.response = response


class ServiceClient:
    """An httpx client for one other service.

    Only calls the caller marks idempotent (GETs, or POSTs carrying a message id or
    idempotency key) are retried, on connection failures and 502/503/504.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        attempts: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout, connect=2.0),
            headers={"Authorization": f"Bearer {api_key}"} if api_key else {},
            transport=transport,
        )
        self._attempts = attempts

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._client.aclose()

    async def request(
        self, method: str, path: str, *, idempotent: bool | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Send a request, retrying with backoff and jitter when it is safe to."""
        retry = idempotent if idempotent is not None else method.upper() in ("GET", "HEAD", "PUT")
        headers = dict(kwargs.pop("headers", None) or {})
        request_id = current_request_id()
        if request_id:
            headers.setdefault(REQUEST_ID_HEADER, request_id)
        if not retry:
            return await self._client.request(method, path, headers=headers, **kwargs)
        async for attempt in stamina.retry_context(
            on=(httpx.TransportError, RetryableStatus),
            attempts=self._attempts,
            wait_initial=0.1,
            wait_max=2.0,
        ):
            with attempt:
                response = await self._client.request(method, path, headers=headers, **kwargs)
                if response.status_code in _RETRY_STATUSES:
                    raise RetryableStatus(response)
        return response
