"""What scoring's routers take besides the unit of work: the caller's scope and the settings.

``Admin`` and ``Session`` are the same in every service (``shared.deps``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.scoring.settings import ScoringSettings
from shared.auth import Principal, require
from shared.http import ServiceClient

Writer = Annotated[Principal, Depends(require("scores:write"))]
Reader = Annotated[Principal, Depends(require("scores:read"))]


def _settings(request: Request) -> ScoringSettings:
    settings: ScoringSettings = request.app.state.settings
    return settings


Settings = Annotated[ScoringSettings, Depends(_settings)]


def _ingest(request: Request) -> ServiceClient:
    client: ServiceClient = request.app.state.clients["ingest"]
    return client


# The client scoring reads ingest with.
IngestClient = Annotated[ServiceClient, Depends(_ingest)]
