"""The scorecards pages: each motion's weights and thresholds, the back-test, a preview of
a proposed version and saving it."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from services.console.api.deps import CheckedForm, CurrentPerson, PlatformApi
from services.console.domain.charts import bars
from services.console.domain.scorecards import (
    churn_alternative,
    churn_bars,
    percent,
    thresholds_field,
    weight_field,
)
from services.console.rendering import page, templates
from services.console.service import scorecards as service

router = APIRouter(tags=["scorecards"])
Motion = Literal["smb", "mid_market", "enterprise"]
MOTIONS: dict[str, str] = {"smb": "SMB", "mid_market": "Mid-market", "enterprise": "Enterprise"}
_HELPERS = {
    "motions": MOTIONS,
    "percent": percent,
    "weight_field": weight_field,
    "thresholds_field": thresholds_field,
    "why_not_write": service.WHY_NOT_WRITE,
}


@router.get("/scorecards", response_class=HTMLResponse)
async def scorecards(
    request: Request, person: CurrentPerson, platform: PlatformApi
) -> HTMLResponse:
    """Each motion's scorecard in force: its version, author and weights."""
    cards = await service.scorecards(platform, person)
    context = {"cards": cards, "active": "scorecards", **_HELPERS}
    return page(request, "scorecards.html", context, cards.status or 200)


@router.get("/scorecards/{motion}", response_class=HTMLResponse)
async def scorecard(
    request: Request,
    motion: Motion,
    person: CurrentPerson,
    platform: PlatformApi,
    saved: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    """One motion's scorecard: weights and thresholds, versions, back-test, the editor."""
    done = None if saved is None else f"Saved: version {saved} scores from the next recompute."
    view = await service.scorecard_page(platform, person, motion, done=done)
    return _page(request, view)


def _context(view: service.ScorecardView) -> dict[str, object]:
    backtest = view.backtest.data or {}
    by_colour = backtest.get("by_colour") or {}
    chart = bars(churn_bars(by_colour), churn_alternative(by_colour)) if by_colour else None
    return {"view": view, "chart": chart, "active": "scorecards", **_HELPERS}


def _page(request: Request, view: service.ScorecardView) -> HTMLResponse:
    status = view.error.status if view.error else view.scorecard.status or 200
    return page(request, "scorecard.html", _context(view), status)


def _fields(form: FormData) -> dict[str, str]:
    return {k: v for k, v in form.items() if isinstance(v, str)}


@router.post("/scorecards/{motion}/preview", response_class=HTMLResponse)
async def preview(
    request: Request,
    motion: Motion,
    person: CurrentPerson,
    form: CheckedForm,
    platform: PlatformApi,
) -> HTMLResponse:
    """The proposed scorecard's colour distribution next to today's; nothing is saved.

    htmx gets the editor alone (answered 200 even when the form is refused, since htmx
    swaps only successful answers; the refusal is in it); a plain form post gets the page
    with the API's status."""
    edit = await service.preview(platform, person, motion, _fields(form))
    if request.headers.get("hx-request"):
        context = {"motion": motion, "edit": edit, "may_write": person.may(service.WRITE_SCOPE)}
        return templates.TemplateResponse(
            request, "_scorecard_editor.html", {"csrf": person.csrf, **context, **_HELPERS}
        )
    view = await service.scorecard_page(platform, person, motion, form=edit.form)
    view.preview, view.error = edit.answer, edit.error
    return _page(request, view)


@router.post("/scorecards/{motion}", response_class=HTMLResponse)
async def save(
    request: Request,
    motion: Motion,
    person: CurrentPerson,
    form: CheckedForm,
    platform: PlatformApi,
) -> Response:
    """Save the editor as the motion's next version, as this person (``scores:write``)."""
    edit = await service.save(platform, person, motion, _fields(form))
    if edit.answer is not None and edit.error is None:
        saved = int(edit.answer["version"])
        return RedirectResponse(f"/scorecards/{motion}?saved={saved}", status_code=303)
    view = await service.scorecard_page(platform, person, motion, form=edit.form)
    view.error = edit.error
    return _page(request, view)
