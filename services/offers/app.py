"""The offers service's app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import structlog
from fastapi import FastAPI

from services.offers.api import (
    approvals,
    audit,
    decisions,
    evaluation,
    notifications,
    offers,
    program_tools,
    programs,
    results,
    simulation,
    snapshots,
)
from services.offers.models import Outbox
from services.offers.service import decisions as decisions_service
from services.offers.service import programs as programs_service
from services.offers.settings import OffersSettings
from shared.db import unit_of_work
from shared.periodic import periodically
from shared.service import ServiceSpec, build_app, service_resources

_log = structlog.get_logger("tenure.offers")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the database and key store; create the shipped programs not created before;
    sweep old decisions."""
    async with service_resources(app):
        async with unit_of_work(app.state.session_factory) as session:
            created = await programs_service.ensure_defaults(session)
        if created:
            _log.info("default_programs_created", programs=created)
        settings: OffersSettings = app.state.settings

        def forget() -> Awaitable[int]:
            return decisions_service.forget_old(
                app.state.session_factory, settings.decision_retention_days, datetime.now(UTC)
            )

        async with periodically(settings.decision_sweep_interval_seconds, forget, "decision-sweep"):
            yield


def create_app(settings: OffersSettings | None = None) -> FastAPI:
    """Build the offers app from the environment (or the given settings)."""
    spec = ServiceSpec(
        settings=settings or OffersSettings(),
        title="Tenure offers",
        description="Incentive programs, decisions, approvals, budgets and holdouts.",
        routers=[
            notifications.router,
            snapshots.router,
            program_tools.router,
            programs.router,
            simulation.router,
            evaluation.router,
            decisions.router,
            offers.router,
            approvals.router,
            results.router,
            audit.router,
        ],
        # Grants of approved credits and revokes, to the ledger.
        outbox_model=Outbox,
        destinations=("ledger",),
        # Renewal outcomes and MRR for programs' results (the ledger's reports come through
        # its destination client).
        reads_from=("ingest",),
    )
    return build_app(spec, lifespan)
