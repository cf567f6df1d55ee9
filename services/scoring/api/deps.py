"""What scoring's routers take besides the unit of work: the caller's scope and the settings.

``Admin`` and ``Session`` are the same in every service (``shared.deps``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.scoring.settings import ScoringSettings
from shared.auth import Principal, require

Writer = Annotated[Principal, Depends(require("scores:write"))]
Reader = Annotated[Principal, Depends(require("scores:read"))]


def _settings(request: Request) -> ScoringSettings:
    settings: ScoringSettings = request.app.state.settings
    return settings


Settings = Annotated[ScoringSettings, Depends(_settings)]
