"""The ledger service's app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import structlog
from fastapi import FastAPI

from services.ledger import group_writer, rendering
from services.ledger.api import (
    balances,
    grants,
    maintenance,
    redemptions,
    reports,
    transactions,
)
from services.ledger.repository import idempotency as repo
from services.ledger.service import expirations
from services.ledger.settings import LedgerSettings
from shared.db import driver_dsn, unit_of_work
from shared.service import ServiceSpec, build_app, service_resources

_log = structlog.get_logger("tenure.ledger")


async def housekeeping(app: FastAPI, settings: LedgerSettings) -> None:
    """Sweep expired lots to breakage and forget old idempotency keys, on an interval."""
    factory = app.state.session_factory
    while True:
        await asyncio.sleep(settings.expiry_interval_seconds)
        try:
            now = rendering.utc_now()
            run = await expirations.expire_due(factory, app.state.writer, now)
            async with unit_of_work(factory) as session:
                cutoff = now - timedelta(days=settings.idempotency_retention_days)
                forgotten = await repo.delete_keys_before(session, cutoff)
            _log.info("housekeeping", expired_lots=run.expired_lots, keys_forgotten=forgotten)
        except Exception:
            _log.exception("housekeeping_failed")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the database and key store; start the group writer and housekeeping."""
    async with service_resources(app):
        settings: LedgerSettings = app.state.settings
        app.state.writer = group_writer.GroupWriter(
            driver_dsn(app.state.engine.url),
            group_size=settings.write_group_size,
            concurrency=settings.write_groups_in_flight,
        )
        task = None
        if settings.expiry_interval_seconds > 0:
            task = asyncio.create_task(housekeeping(app, settings), name="ledger-housekeeping")
        try:
            yield
        finally:
            await app.state.writer.close()
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def create_app(settings: LedgerSettings | None = None) -> FastAPI:
    """Build the ledger app from the environment (or the given settings)."""
    spec = ServiceSpec(
        settings=settings or LedgerSettings(),
        title="Tenure ledger",
        description="The append-only double-entry credit ledger.",
        routers=[
            grants.router,
            redemptions.router,
            transactions.router,
            balances.router,
            maintenance.router,
            reports.router,
        ],
    )
    return build_app(spec, lifespan)
