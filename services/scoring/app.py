"""The scoring service's app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.scoring.api import audit, jobs, notifications, scorecards, scores, segments
from services.scoring.models import Outbox
from services.scoring.service import scorecards as scorecards_service
from services.scoring.service.worker import Worker
from services.scoring.settings import ScoringSettings
from shared.db import unit_of_work
from shared.service import ServiceSpec, build_app, service_resources


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the database and clients; store the default scorecards; run the worker."""
    async with service_resources(app):
        async with unit_of_work(app.state.session_factory) as session:
            await scorecards_service.ensure_defaults(session)
        worker = Worker(app.state.session_factory, app.state.clients["ingest"], app.state.settings)
        worker.start()
        try:
            yield
        finally:
            await worker.stop()


def create_app(settings: ScoringSettings | None = None) -> FastAPI:
    """Build the scoring app from the environment (or the given settings)."""
    spec = ServiceSpec(
        settings=settings or ScoringSettings(),
        title="Tenure scoring",
        description="Health scores, segments, tiers and milestones for every account.",
        routers=[
            scores.router,
            scorecards.router,
            segments.router,
            jobs.router,
            notifications.router,
            audit.router,
        ],
        outbox_model=Outbox,
        destinations=("offers",),
        reads_from=("ingest",),
    )
    return build_app(spec, lifespan)
