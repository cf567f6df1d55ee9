"""Signing in (a name and password, or a personal API key) and out."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console.api.deps import (
    CSRF_FIELD,
    MAX_FORM_FIELDS,
    MAX_FORM_PART,
    SESSION_COOKIE,
    CheckedForm,
    CurrentPerson,
    form_text,
)
from services.console.domain.csrf import new_sign_in_token
from services.console.rendering import page
from services.console.service import sessions
from services.console.settings import ConsoleSettings
from shared.deps import Session
from shared.errors import SignInRefused, SignInThrottled, TenureError, Unprocessable

router = APIRouter(tags=["sign-in"])
SIGN_IN_COOKIE = "tenure_sign_in"


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on the console, never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/inbox"
    return target


def _sign_in_page(
    request: Request,
    *,
    next_path: str,
    status: int = 200,
    error: str | None = None,
    fields: frozenset[str] = frozenset(),
    name: str = "",
    message: str | None = None,
) -> HTMLResponse:
    token = request.cookies.get(SIGN_IN_COOKIE) or new_sign_in_token()
    context = {
        "sign_in_token": token,
        "next": next_path,
        "error": error,
        "fields": fields,
        "name": name,
        "message": message,
    }
    response = page(request, "sign_in.html", context, status)
    settings: ConsoleSettings = request.app.state.settings
    response.set_cookie(
        SIGN_IN_COOKIE, token, httponly=True, samesite="strict", secure=settings.secure_cookies
    )
    return response


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_form(
    request: Request,
    next_path: Annotated[str | None, Query(alias="next", max_length=2000)] = None,
    ended: bool = False,
) -> HTMLResponse:
    """The sign-in form."""
    message = "You have signed out." if ended else None
    return _sign_in_page(request, next_path=safe_next(next_path), message=message)


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request, session: Session) -> Response:
    """Sign in; the session cookie holds the person's own short-lived key."""
    form = await request.form(max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FORM_PART)
    next_path = safe_next(form_text(form, "next"))
    name = form_text(form, "name")
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, form_text(form, CSRF_FIELD)):
        return _sign_in_page(
            request,
            next_path=next_path,
            status=403,
            error="The sign-in form had expired or came from another page: sign in again.",
            name=name,
        )
    settings: ConsoleSettings = request.app.state.settings
    credentials = sessions.Credentials(
        name=name,
        password=form_text(form, "password"),
        api_key=form_text(form, "api_key"),
    )
    client = request.client.host if request.client else "unknown"
    try:
        signed_in = await sessions.sign_in(
            session,
            request.app.state.key_verifier,
            request.app.state.throttle,
            credentials,
            client,
            timedelta(hours=settings.session_hours),
            datetime.now(UTC),
        )
    except (SignInRefused, SignInThrottled, Unprocessable) as exc:
        return _failed(request, exc, next_path, name)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        signed_in.key,
        max_age=int(settings.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )
    response.delete_cookie(SIGN_IN_COOKIE)
    return response


def _failed(request: Request, exc: TenureError, next_path: str, name: str) -> HTMLResponse:
    fields = frozenset(e.pointer for e in exc.errors if e.pointer)
    if isinstance(exc, SignInRefused):
        fields = frozenset({"/name", "/password"})
    response = _sign_in_page(
        request,
        next_path=next_path,
        status=exc.status_code,
        error=exc.detail,
        fields=fields,
        name=name,
    )
    response.headers.update(exc.headers)
    return response


@router.post("/sign-out")
async def sign_out(person: CurrentPerson, _form: CheckedForm, session: Session) -> Response:
    """End the session: its key is revoked on every service, the cookie cleared."""
    await sessions.sign_out(session, person.key_id)
    response = RedirectResponse("/sign-in?ended=true", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
