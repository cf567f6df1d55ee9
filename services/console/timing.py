"""``Server-Timing`` on every console response: the page's whole time and the part spent
waiting on the services' APIs (calls made at once counted once), so the console's own
cost is visible in a browser's developer tools and in ``bench/console.py``."""

from __future__ import annotations

import time
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.console.platform import API_CALLS


def busy_seconds(spans: Sequence[tuple[float, float]]) -> float:
    """How long at least one of ``spans`` was in progress (the length of their union)."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(spans):
        if end <= reach:
            continue
        total += end - max(start, reach)
        reach = end
    return total


class ServerTimingMiddleware:
    """Adds ``Server-Timing: api;dur=…;desc="N calls", total;dur=…`` (milliseconds)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        calls: list[tuple[float, float]] = []
        token = API_CALLS.set(calls)
        started = time.monotonic()

        async def send_with_timing(message: Message) -> None:
            if message["type"] == "http.response.start":
                api = busy_seconds(calls) * 1000
                total = (time.monotonic() - started) * 1000
                value = f'api;dur={api:.1f};desc="{len(calls)} calls", total;dur={total:.1f}'
                message["headers"] = [
                    *message.get("headers", []),
                    (b"server-timing", value.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_timing)
        finally:
            API_CALLS.reset(token)
