"""The offers service's app."""

from __future__ import annotations

from fastapi import FastAPI

from services.offers.api import notifications, offers, snapshots
from services.offers.models import Outbox
from services.offers.settings import OffersSettings
from shared.service import ServiceSpec, build_app


def create_app(settings: OffersSettings | None = None) -> FastAPI:
    """Build the offers app from the environment (or the given settings)."""
    spec = ServiceSpec(
        settings=settings or OffersSettings(),
        title="Tenure offers",
        description="Incentive programs, decisions, approvals, budgets and holdouts.",
        routers=[notifications.router, snapshots.router, offers.router],
        # Grants of approved credits and revokes, to the ledger.
        outbox_model=Outbox,
        destinations=("ledger",),
    )
    return build_app(spec)
