"""One offer's page: its whole story."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services.console.api.deps import CurrentPerson, PlatformApi
from services.console.rendering import page
from services.console.service import offers as service

router = APIRouter(tags=["offers"])


@router.get("/offers/{offer_id}", response_class=HTMLResponse)
async def offer(
    request: Request, offer_id: uuid.UUID, person: CurrentPerson, platform: PlatformApi
) -> HTMLResponse:
    """The offer's timeline: snapshot, decision, approvals, ledger transactions."""
    view = await service.offer_page(platform, person, offer_id)
    status = view.trace.status or 200
    return page(request, "offer.html", {"view": view, "offer_id": offer_id}, status)
