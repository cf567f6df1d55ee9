"""What the console's routers take: the signed-in person, their checked form, the platform."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from services.console.domain.csrf import csrf_matches, csrf_token
from services.console.domain.roles import Role, may, roles_held
from services.console.platform import Platform
from shared.auth import KeyVerifier
from shared.errors import CsrfRefused, SignInRequired, Unauthorized
from shared.pagination import CursorSigner

SESSION_COOKIE = "tenure_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
# A console form is a few short fields; anything bigger is not one of ours.
MAX_FORM_FIELDS = 50
MAX_FORM_PART = 64 * 1024


@dataclass(frozen=True)
class Person:
    """Who is signed in: their name, their session's key and what it may do."""

    name: str
    key: str
    key_id: uuid.UUID
    scopes: frozenset[str]

    @property
    def roles(self) -> list[Role]:
        """The roles this person's key amounts to."""
        return roles_held(self.scopes)

    @property
    def csrf(self) -> str:
        """The anti-forgery token this session's forms carry."""
        return csrf_token(self.key)

    def may(self, scope: str) -> bool:
        """Whether this person's key holds ``scope``."""
        return may(self.scopes, scope)


async def current_person(request: Request) -> Person:
    """The person whose session cookie this is; ``SignInRequired`` (a redirect to sign in)
    without a live one: none, signed out, expired."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        raise SignInRequired("Sign in to use the console.")
    verifier: KeyVerifier = request.app.state.key_verifier
    try:
        principal = await verifier.verify(raw)
    except Unauthorized as exc:
        raise SignInRequired("Your session has ended: sign in again.") from exc
    person = Person(principal.name, raw, principal.key_id, principal.scopes)
    request.state.person = person
    return person


CurrentPerson = Annotated[Person, Depends(current_person)]


async def checked_form(request: Request, person: CurrentPerson) -> FormData:
    """The posted form, once it carries this session's anti-forgery token (in the form, or
    the ``X-CSRF-Token`` header htmx sends); 403 otherwise, and nothing is done."""
    form = await request.form(max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FORM_PART)
    token = form.get(CSRF_FIELD)
    sent = token if isinstance(token, str) else request.headers.get(CSRF_HEADER)
    if not csrf_matches(person.key, sent):
        raise CsrfRefused(
            "This form did not carry this session's anti-forgery token: reload the page and"
            " send it again."
        )
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


def _platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformApi = Annotated[Platform, Depends(_platform)]


def _signer(request: Request) -> CursorSigner:
    signer: CursorSigner = request.app.state.cursor_signer
    return signer


# Signs the cursors of the console's own lists (its people's audit log).
Signer = Annotated[CursorSigner, Depends(_signer)]


def form_text(form: FormData, name: str) -> str:
    """A text field of a form, stripped ('' when absent or a file)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""
