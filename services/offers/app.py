"""The offers service's app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import structlog
from fastapi import FastAPI

from services.offers.api import (
    decisions,
    evaluation,
    notifications,
    offers,
    programs,
    snapshots,
)
from services.offers.models import Outbox
from services.offers.service import decisions as decisions_service
from services.offers.service import programs as programs_service
from services.offers.settings import OffersSettings
from shared.db import unit_of_work
from shared.service import ServiceSpec, build_app, service_resources

_log = structlog.get_logger("tenure.offers")


async def sweep_decisions(app: FastAPI, settings: OffersSettings) -> None:
    """Forget decisions that offered nothing once past their retention, on an interval."""
    while True:
        try:
            gone = await decisions_service.forget_old(
                app.state.session_factory, settings.decision_retention_days, datetime.now(UTC)
            )
            if gone:
                _log.info("decisions_forgotten", count=gone)
        except Exception:
            _log.exception("decision_sweep_failed")
        await asyncio.sleep(settings.decision_sweep_interval_seconds)


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
        task = None
        if settings.decision_sweep_interval_seconds > 0:
            task = asyncio.create_task(sweep_decisions(app, settings), name="decision-sweep")
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def create_app(settings: OffersSettings | None = None) -> FastAPI:
    """Build the offers app from the environment (or the given settings)."""
    spec = ServiceSpec(
        settings=settings or OffersSettings(),
        title="Tenure offers",
        description="Incentive programs, decisions, approvals, budgets and holdouts.",
        routers=[
            notifications.router,
            snapshots.router,
            programs.router,
            evaluation.router,
            decisions.router,
            offers.router,
        ],
        # Grants of approved credits and revokes, to the ledger.
        outbox_model=Outbox,
        destinations=("ledger",),
    )
    return build_app(spec, lifespan)
