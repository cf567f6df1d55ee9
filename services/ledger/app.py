"""The ledger service's app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

from services.ledger import group_writer
from services.ledger.api import (
    balances,
    grants,
    maintenance,
    notifications,
    redemptions,
    reports,
    transactions,
)
from services.ledger.models import Outbox
from services.ledger.service import housekeeping
from services.ledger.settings import LedgerSettings
from shared.db import driver_dsn
from shared.periodic import periodically
from shared.service import ServiceSpec, build_app, service_resources

_log = structlog.get_logger("tenure.ledger")


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

        def sweep() -> Awaitable[None]:
            return housekeeping.sweep(
                app.state.session_factory, app.state.writer, settings.idempotency_retention_days
            )

        try:
            # Expired lots to breakage and old idempotency keys forgotten, on an interval.
            async with periodically(settings.expiry_interval_seconds, sweep, "ledger-housekeeping"):
                yield
        finally:
            await app.state.writer.close()


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
            notifications.router,
        ],
        # credit.moved: what each transaction did to an offer's lot, told to offers.
        outbox_model=Outbox,
        destinations=("offers",),
    )
    return build_app(spec, lifespan)
