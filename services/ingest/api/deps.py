"""What ingest's routers take besides the unit of work: the caller's scope and the settings.

``Admin`` and ``Session`` are the same in every service (``shared.deps``).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request

from services.ingest.models import Source
from services.ingest.service import webhooks as webhooks_service
from services.ingest.settings import IngestSettings
from shared.auth import Principal, require
from shared.deps import Session

Writer = Annotated[Principal, Depends(require("ingest:write"))]
Reader = Annotated[Principal, Depends(require("ingest:read"))]


def _settings(request: Request) -> IngestSettings:
    settings: IngestSettings = request.app.state.settings
    return settings


Settings = Annotated[IngestSettings, Depends(_settings)]


async def _stripe_source(source_id: uuid.UUID, session: Session) -> Source:
    return await webhooks_service.webhook_source(session, source_id, "stripe")


async def _standard_source(source_id: uuid.UUID, session: Session) -> Source:
    return await webhooks_service.webhook_source(session, source_id, "standard_webhooks")


# The enabled webhook source a URL names (404 otherwise), found before the body is read:
# the source, not an API key, is what a webhook authenticates against.
StripeSource = Annotated[Source, Depends(_stripe_source)]
StandardSource = Annotated[Source, Depends(_standard_source)]
