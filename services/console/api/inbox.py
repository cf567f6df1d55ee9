"""The approvals inbox, and approving or rejecting from it."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Literal
from urllib.parse import quote_plus

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console.api.deps import CheckedForm, CurrentPerson, PlatformApi, form_text
from services.console.rendering import page
from services.console.service import inbox as service
from shared.validation import ID_PATTERN

router = APIRouter(tags=["inbox"])
ProgramId = Annotated[str, Path(max_length=200, pattern=ID_PATTERN)]
# What the last action did, said after its redirect (fixed words: a link cannot put others).
Done = Literal["approved", "rejected", "live"]
_DONE: dict[str, str] = {
    "approved": "Approved",
    "rejected": "Rejected",
    "live": "Live now",
}


@router.get("/", include_in_schema=False)
async def home() -> RedirectResponse:
    """The console opens on the inbox."""
    return RedirectResponse("/inbox", status_code=303)


@router.get("/inbox", response_class=HTMLResponse)
async def inbox(
    request: Request,
    person: CurrentPerson,
    platform: PlatformApi,
    done: Done | None = None,
    subject: Annotated[str | None, Query(max_length=200)] = None,
    program: Annotated[str | None, Query(max_length=200, pattern=ID_PATTERN)] = None,
) -> HTMLResponse:
    """Offers and program versions awaiting approval, oldest first: the ones this person
    may approve, with the context to decide, and the rest with why not."""
    message = None if done is None else f"{_DONE[done]}: {subject or ''}".rstrip(": ")
    view = await service.inbox(platform, person, message, program)
    return _page(request, view)


def _page(request: Request, view: service.InboxView) -> HTMLResponse:
    status = view.error.status if view.error else 200
    context = {"view": view, "done": view.done, "error": view.error, "active": "inbox"}
    return page(request, "inbox.html", {**context, "limit": service.INBOX_LIMIT}, status)


@router.post("/offers/{offer_id}/decide", response_class=HTMLResponse)
async def decide(
    request: Request,
    offer_id: uuid.UUID,
    person: CurrentPerson,
    form: CheckedForm,
    platform: PlatformApi,
) -> Response:
    """Approve or reject an offer as this person; a refusal comes back on its form."""
    decision: service.Decision = "reject" if form_text(form, "decision") == "reject" else "approve"
    program = form_text(form, "program")
    view = await service.decide_offer(
        platform,
        person,
        str(offer_id),
        decision,
        form_text(form, "comment"),
        program if re.fullmatch(ID_PATTERN, program) else None,
    )
    if view is not None:
        return _page(request, view)
    done = "approved" if decision == "approve" else "rejected"
    return RedirectResponse(f"/inbox?done={done}&subject=offer+{offer_id}", status_code=303)


@router.post("/programs/{program_id}/approve", response_class=HTMLResponse)
async def approve_version(
    request: Request,
    program_id: ProgramId,
    person: CurrentPerson,
    form: CheckedForm,
    platform: PlatformApi,
) -> Response:
    """Put a program's pending version live as this person."""
    version = form_text(form, "version")
    view = await service.approve_version(
        platform,
        person,
        program_id,
        int(version) if version.isdigit() else 0,
        form_text(form, "comment"),
    )
    if view is not None:
        return _page(request, view)
    subject = quote_plus(f"{program_id} version {version}")
    return RedirectResponse(f"/inbox?done=live&subject={subject}", status_code=303)
