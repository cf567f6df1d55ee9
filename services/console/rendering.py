"""Pages from Jinja2 templates: every value autoescaped, money and times formatted once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from services.console.domain import formatting

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
HTMX = "htmx-2.0.11.min.js"
# The pages in the navigation, in the order of value (more as they are built).
NAVIGATION = (
    ("inbox", "/inbox", "Approvals"),
    ("programs", "/programs", "Programs"),
    ("results", "/results", "Results"),
    ("accounts", "/accounts", "Accounts"),
    ("finance", "/finance", "Finance"),
    ("scorecards", "/scorecards", "Scorecards"),
    ("integrations", "/integrations", "Integrations"),
    ("audit", "/audit", "Audit log"),
)


def _instant(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _when(value: Any) -> str:
    return formatting.when(_instant(value))


def _ago(value: Any) -> str:
    moment = _instant(value)
    return "—" if moment is None else formatting.since(moment, datetime.now(UTC))


templates = Jinja2Templates(directory=HERE / "templates")
templates.env.autoescape = True  # every template, whatever its name
templates.env.filters.update(
    money=formatting.money,
    share=formatting.share,
    age=formatting.age,
    when=_when,
    ago=_ago,
)
templates.env.globals.update(htmx=HTMX, navigation=NAVIGATION)


def page(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    """A whole page, with the signed-in person (if any) and their anti-forgery token."""
    person = getattr(request.state, "person", None)
    full = {"person": person, "csrf": person.csrf if person else "", **context}
    return templates.TemplateResponse(request, template, full, status_code=status)
