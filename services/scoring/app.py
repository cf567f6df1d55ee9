"""The scoring service's app."""

from __future__ import annotations

from fastapi import FastAPI

from services.scoring.api import notifications
from services.scoring.settings import ScoringSettings
from shared.service import ServiceSpec, build_app


def create_app(settings: ScoringSettings | None = None) -> FastAPI:
    """Build the scoring app from the environment (or the given settings)."""
    spec = ServiceSpec(
        settings=settings or ScoringSettings(),
        title="Tenure scoring",
        description="Health scores, segments, tiers and milestones for every account.",
        routers=[notifications.router],
    )
    return build_app(spec)
