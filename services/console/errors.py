"""The console's one error handler: every refusal is a page that says what is wrong (a
session that ended is a trip to the sign-in form), never a stack trace."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.console.rendering import page
from shared.errors import SignInRequired, TenureError


def _sign_in_again(request: Request, exc: SignInRequired) -> Response:
    target = request.url.path if request.method == "GET" else "/inbox"
    if request.url.query and request.method == "GET":
        target += "?" + request.url.query
    location = f"/sign-in?next={quote(target, safe='')}"
    if request.headers.get("hx-request"):
        # htmx follows a redirect inside the page; this makes it load the sign-in page.
        return Response(status_code=401, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


def _error_page(request: Request, status: int, title: str, detail: str) -> Response:
    return page(request, "error.html", {"title": title, "detail": detail}, status)


def install_error_pages(app: FastAPI) -> None:
    """Render every error the console gives as a page of its own."""

    @app.exception_handler(TenureError)
    async def _tenure_error(request: Request, exc: TenureError) -> Response:
        if isinstance(exc, SignInRequired):
            return _sign_in_again(request, exc)
        response = _error_page(request, exc.status_code, exc.title, exc.detail or exc.title)
        response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        where = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg', 'invalid')}"
            for e in exc.errors()
        )
        return _error_page(request, 422, "Not a valid request", where)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = "There is no such page." if exc.status_code == 404 else str(exc.detail)
        response = _error_page(request, exc.status_code, "Not here", detail)
        response.headers.update(exc.headers or {})
        return response
