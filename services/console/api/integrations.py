"""The integrations page: sources, rejected events and their replay, parked outbox messages
and their retry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console.api.deps import CheckedForm, CurrentPerson, PlatformApi, form_text
from services.console.domain.integrations import OUTBOX_SERVICES, short_json, source_state
from services.console.rendering import page
from services.console.service import integrations as service
from shared.validation import PathSerial

router = APIRouter(tags=["integrations"])
OutboxService = Literal["ingest", "scoring", "offers", "ledger"]
# What the last action did, said after its redirect (fixed words and numbers only: a link
# cannot make the page say anything else).
Done = Literal["accepted", "duplicate", "retried"]


def _done(done: Done | None, entry: int | None, service_name: str | None) -> str | None:
    if done is None or entry is None:
        return None
    if done == "accepted":
        return f"Rejected event {entry} replayed: accepted."
    if done == "duplicate":
        return f"Rejected event {entry} replayed: it was stored already."
    return (
        f"Outbox message {entry} of {service_name or 'its service'} put back in line for delivery."
    )


@router.get("/integrations", response_class=HTMLResponse)
async def integrations(
    request: Request,
    person: CurrentPerson,
    platform: PlatformApi,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
    sources_cursor: Annotated[str | None, Query(max_length=1000)] = None,
    source: Annotated[str | None, Query(max_length=200)] = None,
    reason: Annotated[str | None, Query(max_length=500)] = None,
    done: Done | None = None,
    entry: Annotated[int | None, Query(ge=1)] = None,
    service_name: Annotated[OutboxService | None, Query(alias="service")] = None,
) -> HTMLResponse:
    """Each source with its last event and counts, unresolved rejected events (oldest
    first, filtered by source label and reason), and each service's parked outbox
    messages."""
    view = await service.integrations(
        platform,
        person,
        cursor=cursor,
        sources_cursor=sources_cursor,
        source=source,
        reason=reason,
        done=_done(done, entry, service_name),
    )
    return _page(request, view)


def _page(request: Request, view: service.IntegrationsView) -> HTMLResponse:
    status = view.error.status if view.error else 200
    now = datetime.now(UTC)
    context = {
        "view": view,
        "active": "integrations",
        "services": OUTBOX_SERVICES,
        "admin_only": service.ADMIN_ONLY,
        "source_state": lambda source: source_state(source, now),
        "short_json": short_json,
    }
    return page(request, "integrations.html", context, status)


@router.post("/integrations/rejected/{rejected_id}/replay", response_class=HTMLResponse)
async def replay(
    request: Request,
    rejected_id: PathSerial,
    person: CurrentPerson,
    form: CheckedForm,
    platform: PlatformApi,
) -> Response:
    """Replay one rejected event as this person."""
    source, reason = form_text(form, "source"), form_text(form, "reason")
    answer = await service.replay(platform, person, rejected_id, source, reason)
    if isinstance(answer, service.IntegrationsView):
        return _page(request, answer)
    query = urlencode({"done": answer, "entry": rejected_id, "source": source, "reason": reason})
    return RedirectResponse(f"/integrations?{query}", status_code=303)


@router.post("/integrations/rejected/replay", response_class=HTMLResponse)
async def replay_matching(
    request: Request, person: CurrentPerson, form: CheckedForm, platform: PlatformApi
) -> HTMLResponse:
    """Replay every unresolved rejected event matching the form's filter (admin); the page
    says how many were accepted, stored already or refused again."""
    limit = form_text(form, "limit")
    view = await service.replay_matching(
        platform,
        person,
        form_text(form, "source"),
        form_text(form, "reason_contains"),
        int(limit) if limit.isdigit() else 0,
    )
    return _page(request, view)


@router.post("/integrations/outbox/{service_name}/{entry_id}/retry", response_class=HTMLResponse)
async def retry(
    request: Request,
    service_name: OutboxService,
    entry_id: PathSerial,
    person: CurrentPerson,
    form: CheckedForm,
    platform: PlatformApi,
) -> Response:
    """Put a parked outbox message back in line as this person."""
    error = await service.retry(platform, person, service_name, entry_id)
    if error is not None:
        view = await service.integrations(platform, person, error=error)
        return _page(request, view)
    return RedirectResponse(
        f"/integrations?done=retried&entry={entry_id}&service={service_name}", status_code=303
    )
