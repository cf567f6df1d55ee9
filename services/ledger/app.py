"""The ledger service's app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.ledger.models import Outbox
from services.ledger.settings import LedgerSettings
from shared.service import ServiceSpec, build_app, service_resources


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the database, key store and outbox dispatcher for the app's lifetime."""
    async with service_resources(app):
        yield


def create_app(settings: LedgerSettings | None = None) -> FastAPI:
    """Build the ledger app from the environment (or the given settings)."""
    spec = ServiceSpec(
        settings=settings or LedgerSettings(),
        title="Tenure ledger",
        description="The append-only double-entry credit ledger.",
        routers=[],
        outbox_model=Outbox,
        destinations=("offers",),
    )
    return build_app(spec, lifespan)
