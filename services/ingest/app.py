"""The ingest service's app."""

from __future__ import annotations

from fastapi import FastAPI

from services.ingest.api import (
    accounts,
    audit,
    config,
    events,
    outcomes,
    rejected,
    rollups,
    segment,
    signals,
    sources,
    support,
    users,
    webhooks,
)
from services.ingest.models import Outbox
from services.ingest.settings import IngestSettings
from shared.service import ServiceSpec, build_app


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    """Build the ingest app from the environment (or the given settings)."""
    spec = ServiceSpec(
        settings=settings or IngestSettings(),
        title="Tenure ingest",
        description="Accounts, users, product events and signals, rolled up per day.",
        routers=[
            accounts.router,
            users.router,
            events.router,
            segment.router,
            sources.router,
            config.router,
            signals.router,
            outcomes.router,
            rejected.router,
            rollups.router,
            support.router,
            webhooks.router,
            audit.router,
        ],
        outbox_model=Outbox,
        destinations=("scoring",),
    )
    return build_app(spec)
