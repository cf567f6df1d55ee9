"""The console's people: created by the operator (``tenure users create``), with roles."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncSession

from services.console import repository as repo
from services.console.domain.roles import Role, UnknownRole, check_roles
from shared.auth import OPERATOR, check_principal_name, revoke_principal_keys
from shared.errors import NotFound, Unprocessable, UserExists

# argon2id with the library's defaults (RFC 9106's second recommended option).
HASHER = PasswordHasher()
MIN_PASSWORD_LENGTH = 12


async def create_user(
    session: AsyncSession, name: str, password: str, roles: list[str], by: str = OPERATOR
) -> list[Role]:
    """Store a person who may sign in (recorded as ``by``'s change); the roles they were
    given. 422 naming what is wrong with the name, password or roles; 409 when the name is
    taken."""
    try:
        check_principal_name(name)
    except ValueError as exc:
        raise Unprocessable.for_field("/name", str(exc)) from exc
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Unprocessable.for_field(
            "/password", f"a password has at least {MIN_PASSWORD_LENGTH} characters"
        )
    try:
        checked = check_roles(roles)
    except UnknownRole as exc:
        raise Unprocessable.for_field("/roles", str(exc)) from exc
    if not await repo.add_user(session, name, HASHER.hash(password), list(checked), by):
        raise UserExists(f"A user named {name!r} exists already.")
    return checked


# The people ``tenure demo`` makes, one for each part of the approval workflow.
DEMO_PEOPLE: dict[str, list[str]] = {
    "demo-owner": ["product"],
    "demo-approver": ["approver"],
    "demo-finance": ["finance"],
    "demo-cs": ["cs"],
}


async def disable_user(session: AsyncSession, name: str, by: str = OPERATOR) -> None:
    """Stop a person signing in and acting: every live key of theirs (their sessions' and
    their personal API keys) is revoked on every service, and the console refuses them by
    password or key. 404 for no such user. Through the operator's connection only (the
    console's role may not revoke keys)."""
    if not await repo.disable_user(session, name, by):
        raise NotFound(f"No console user is named {name!r}.")
    await revoke_principal_keys(session, name)


async def ensure_demo_people(
    session: AsyncSession, by: str = OPERATOR
) -> dict[str, tuple[list[Role], str]]:
    """Make (or reset) the demo's people, each with a new random password; their roles and
    passwords by name (shown once: only hashes are kept)."""
    made: dict[str, tuple[list[Role], str]] = {}
    for name, roles in DEMO_PEOPLE.items():
        password = secrets.token_urlsafe(12)
        checked = check_roles(roles)
        await repo.reset_user(session, name, HASHER.hash(password), list(checked), by)
        made[name] = (checked, password)
    return made
