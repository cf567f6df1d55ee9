"""Accounts: the filtered list, its CSV, one account's page, and overriding its colour."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console.api.deps import CheckedForm, CurrentPerson, PlatformApi, form_text
from services.console.csv_response import csv_response
from services.console.domain import account_view, accounts
from services.console.domain.charts import sparkline
from services.console.domain.csv_export import to_csv
from services.console.platform import ApiProblem, ServiceDown
from services.console.rendering import page
from services.console.service import account as account_service
from services.console.service import accounts as service
from shared.errors import DependencyUnavailable, Unprocessable
from shared.validation import ID_PATTERN

router = APIRouter(tags=["accounts"])
AccountId = Annotated[str, Path(min_length=1, max_length=200, pattern=ID_PATTERN)]
# A filter as the GET form sends it: text, empty when off; its meaning is checked after.
Field = Annotated[str, Query(max_length=200)]
Cursor = Annotated[str | None, Query(max_length=2000)]


def _filters(
    q: Field = "",
    colour: Field = "",
    segment: Field = "",
    tier: Field = "",
    motion: Field = "",
    renewal_window: Field = "",
    health_above: Field = "",
    health_below: Field = "",
) -> accounts.AccountFilters:
    """The list's filters, as the list and its CSV both take them; 422 naming a bad one."""
    raw = {
        "q": q,
        "colour": colour,
        "segment": segment,
        "tier": tier,
        "motion": motion,
        "renewal_window": renewal_window,
        "health_above": health_above,
        "health_below": health_below,
    }
    try:
        return accounts.parse_filters(raw)
    except accounts.BadFilter as exc:
        raise Unprocessable(f"{exc.field}: {exc.detail}") from exc


Filters = Annotated[accounts.AccountFilters, Depends(_filters)]


@router.get("/accounts", response_class=HTMLResponse)
async def account_list(
    request: Request,
    person: CurrentPerson,
    platform: PlatformApi,
    filters: Filters,
    cursor: Cursor = None,
) -> HTMLResponse:
    """Accounts by id, filtered by colour, segment, tier, motion, renewal window, health and
    part of the id or name; a page at a time along scoring's cursor."""
    view = await service.account_list(platform, person, filters, cursor or None)
    context = {
        "view": view,
        "active": "accounts",
        "colours": accounts.COLOURS,
        "segments": accounts.SEGMENTS,
        "tiers": accounts.TIERS,
        "motions": accounts.MOTIONS,
        "windows": accounts.RENEWAL_WINDOWS,
        "label": accounts.label,
        "cap": service.CSV_CAP,
    }
    return page(request, "accounts.html", context, view.rows.status or 200)


@router.get("/accounts.csv")
async def account_csv(
    person: CurrentPerson,
    platform: PlatformApi,
    filters: Filters,
) -> Response:
    """The filtered list as CSV: every matching account up to the cap, formula-like cells
    neutralised; ``X-Tenure-Truncated: true`` when the cap cut it."""
    try:
        export = await service.account_csv(platform, person, filters)
    except ServiceDown as exc:
        raise DependencyUnavailable(f"{exc}: the CSV cannot be made now.") from exc
    except ApiProblem as exc:
        raise Unprocessable(exc.detail) from exc
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    response = csv_response(to_csv(accounts.CSV_HEADER, export.rows), f"accounts-{stamp}.csv")
    if export.truncated:
        response.headers["X-Tenure-Truncated"] = "true"
    return response


Done = Literal["override", "override-ended"]
# What the page says after each change it redirected from.
DONE = {
    "override": "Colour overridden",
    "override-ended": "Override ended: the computed colour is in force",
}


@router.get("/accounts/{account_id}", response_class=HTMLResponse)
async def account(
    request: Request,
    account_id: AccountId,
    person: CurrentPerson,
    platform: PlatformApi,
    done: Done | None = None,
) -> HTMLResponse:
    """One account: its score with every measure's points, the 90-day trend, tier, segment,
    RFM, milestones, renewal, recent events, decisions, offers and credit lots."""
    view = await account_service.account_page(platform, person, account_id)
    return _account_page(request, person, view, DONE[done] if done else None)


def _account_page(
    request: Request,
    person: CurrentPerson,
    view: account_service.AccountView,
    done: str | None = None,
) -> HTMLResponse:
    score = view.score.data or {}
    points = (view.history.data or {}).get("points") or []
    words = account_view.trend_words(points)
    rows = account_view.contributions(score.get("measures") or [])
    context = {
        "view": view,
        "score": score,
        "done": done,
        "error": view.error,
        "fields": account_view.field_errors(view.error.fields) if view.error else {},
        "contributions": rows,
        "bars": {r.measure: account_view.contribution_bar(r) for r in rows},
        "trend": sparkline(account_view.trend(points, view.today.date()), words, width=270),
        "trend_words": words,
        "milestones": account_view.milestones(score.get("milestones") or {}),
        "may_override": person.may(account_service.OVERRIDE_SCOPE),
        "override_scope": account_service.OVERRIDE_SCOPE,
        "colours": accounts.COLOURS,
        "expiry_default": account_view.expiry_default(view.today),
        "label": accounts.label,
        "active": "accounts",
    }
    status = view.error.status if view.error else 404 if view.unknown else 200
    return page(request, "account.html", context, status)


@router.post("/accounts/{account_id}/override", response_class=HTMLResponse)
async def override(
    request: Request,
    account_id: AccountId,
    person: CurrentPerson,
    form: CheckedForm,
    platform: PlatformApi,
) -> Response:
    """Override the account's colour as this person, with a reason and an expiry (UTC); a
    refusal comes back on the form with the fields marked."""
    typed = {name: form_text(form, name) for name in ("colour", "reason", "expires_at")}
    view = await account_service.override_colour(platform, person, account_id, typed)
    if view is not None:
        return _account_page(request, person, view)
    where = quote(account_id, safe="")
    return RedirectResponse(f"/accounts/{where}?done=override", status_code=303)


@router.post("/accounts/{account_id}/override/end", response_class=HTMLResponse)
async def end_override(
    request: Request,
    account_id: AccountId,
    person: CurrentPerson,
    _form: CheckedForm,
    platform: PlatformApi,
) -> Response:
    """End the account's override now, as this person (the audit log says who)."""
    view = await account_service.end_override(platform, person, account_id)
    if view is not None:
        return _account_page(request, person, view)
    where = quote(account_id, safe="")
    return RedirectResponse(f"/accounts/{where}?done=override-ended", status_code=303)
