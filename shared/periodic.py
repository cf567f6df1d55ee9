"""Work a service does by itself on an interval (the ledger's expiry sweep, offers' decision
retention), run beside its requests for the life of the process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import structlog

_log = structlog.get_logger("tenure.periodic")


async def _every(seconds: float, work: Callable[[], Awaitable[object]], name: str) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await work()
        except Exception:
            # One failed round (a database restart, say) must not end the sweeps to come.
            _log.exception("periodic_work_failed", work=name)


@asynccontextmanager
async def periodically(
    seconds: float, work: Callable[[], Awaitable[object]], name: str
) -> AsyncIterator[None]:
    """Run ``work`` every ``seconds`` (first after one interval) while the block runs; 0
    turns it off. A failure is logged and the next round goes ahead."""
    if seconds <= 0:
        yield
        return
    task = asyncio.create_task(_every(seconds, work, name), name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
