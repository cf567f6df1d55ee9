"""The demo's HTTP side: one keep-alive client per service and key, retries that honour the
platform's answers (429 and 503 with ``Retry-After``), cursor walks, and waiting for the
platform to settle."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx

SERVICES = ("ingest", "scoring", "offers", "ledger")
RETRIED = {429, 503}


class DemoError(Exception):
    """The platform refused something the demo needs, or never settled."""


@dataclass
class Api:
    """A client of one service under one key."""

    client: httpx.AsyncClient

    async def call(
        self,
        method: str,
        path: str,
        *,
        ok: Iterable[int] = (200, 201, 202),
        **kwargs: Any,
    ) -> httpx.Response:
        """Send a request, waiting out rate limits and retryable failures; a refusal is a
        :class:`DemoError` with the problem's detail."""
        for attempt in range(30):
            try:
                response = await self.client.request(method, path, **kwargs)
            except httpx.TransportError:
                # A service restarted by its supervisor answers again within seconds.
                await asyncio.sleep(min(0.2 * 2**attempt, 5))
                continue
            if response.status_code in RETRIED:
                await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            if response.status_code not in set(ok):
                raise DemoError(
                    f"{method} {self.client.base_url}{path}: {response.status_code}"
                    f" {response.text[:500]}"
                )
            return response
        raise DemoError(f"{method} {self.client.base_url}{path}: still failing after retries")

    async def get(self, path: str, **params: Any) -> Any:
        """GET a JSON document."""
        return (await self.call("GET", path, params=params)).json()

    async def post(self, path: str, body: Any, **kwargs: Any) -> Any:
        """POST a JSON body; its JSON answer."""
        return (await self.call("POST", path, json=body, **kwargs)).json()

    async def walk(self, path: str, **params: Any) -> AsyncIterator[dict[str, Any]]:
        """Every item of a cursor-paged list, 500 a page."""
        cursor: str | None = None
        while True:
            query = {**params, "limit": 500, **({"cursor": cursor} if cursor else {})}
            page = await self.get(path, **query)
            for item in page["items"]:
                yield item
            cursor = page.get("next_cursor")
            if not cursor:
                return


def api(base_url: str, key: str) -> Api:
    """A keep-alive client of ``base_url`` authenticated with ``key``."""
    return Api(
        httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {key}"},
            timeout=httpx.Timeout(120, connect=5),
            limits=httpx.Limits(max_keepalive_connections=8, max_connections=8),
        )
    )


async def gather_limited(
    jobs: Iterable[Callable[[], Awaitable[Any]]],
    concurrency: int,
    done: Callable[[], None] | None = None,
) -> list[Any]:
    """Run ``jobs`` with at most ``concurrency`` in flight; results in order."""
    gate = asyncio.Semaphore(concurrency)

    async def run(job: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            result = await job()
        if done is not None:
            done()
        return result

    return await asyncio.gather(*(run(job) for job in jobs))


async def ready(urls: dict[str, str]) -> list[str]:
    """The services whose ``/readyz`` does not answer 200."""
    down = []
    async with httpx.AsyncClient(timeout=3) as client:
        for service, url in urls.items():
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    continue
            except httpx.HTTPError:
                pass
            down.append(service)
    return down


async def quiet(admins: dict[str, Api]) -> bool:
    """Whether nothing is in flight between the services: every outbox empty (but for
    parked messages, which wait for a person) and scoring's queue of changed accounts
    drained."""
    for admin in admins.values():
        if (await admin.get("/v1/outbox", parked="false", limit=1))["items"]:
            return False
    return not (await admins["scoring"].get("/v1/account-changes", limit=1))["items"]


async def settle(admins: dict[str, Api], within: float, interval: float = 0.5) -> None:
    """Wait until the platform has been :func:`quiet` three checks in a row: a message in
    delivery or a batch being scored is not in a list for an instant."""
    deadline = time.monotonic() + within
    calm = 0
    while calm < 3:
        if time.monotonic() > deadline:
            raise DemoError(f"the platform did not settle within {within:.0f} s")
        calm = calm + 1 if await quiet(admins) else 0
        await asyncio.sleep(interval)


async def wait_jobs(scoring: Api, job_ids: list[str], within: float) -> None:
    """Wait until every recompute job has succeeded."""
    deadline = time.monotonic() + within
    pending = list(job_ids)
    while pending:
        if time.monotonic() > deadline:
            raise DemoError(f"{len(pending)} recompute jobs still running after {within:.0f} s")
        job = await scoring.get(f"/v1/jobs/{pending[0]}")
        if job["status"] == "succeeded":
            pending.pop(0)
        else:
            await asyncio.sleep(0.5)
