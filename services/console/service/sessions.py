"""Signing in and out: a person's session is a short-lived key of their own.

At sign-in the console mints a key for the person, with the scopes of their roles (a local
user) or of the API key they signed in with, that expires with the session; the services
check it like any key, so every action is the person's. Signing out revokes it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from anyio import to_thread
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.console import repository as repo
from services.console.domain.roles import Role, check_roles, scopes_for
from services.console.domain.throttle import SignInThrottle
from services.console.service.users import HASHER
from shared.auth import KeyVerifier, end_session_key, issue_session_key
from shared.errors import (
    FieldError,
    Forbidden,
    SignInRefused,
    SignInThrottled,
    Unauthorized,
    Unprocessable,
)

# Verified against when the name is unknown, so an unknown name takes as long as a wrong
# password (no telling which names exist from the time).
_DUMMY_HASH = HASHER.hash("not anyone's password")


@dataclass(frozen=True)
class Credentials:
    """What the sign-in form sent: a name and password, or an API key."""

    name: str = ""
    password: str = ""
    api_key: str = ""


@dataclass(frozen=True)
class SignedIn:
    """A new session: the key's secret (the cookie), its id, whose it is, when it ends."""

    key: str
    key_id: uuid.UUID
    name: str
    expires_at: datetime


def _throttled(throttle: SignInThrottle, keys: tuple[str, ...]) -> None:
    wait = throttle.wait_for(keys, time.monotonic())
    if wait > 0:
        seconds = int(wait) + 1
        raise SignInThrottled(
            f"Too many failed sign-ins: try again in {seconds} s.",
            headers={"Retry-After": str(seconds)},
        )


async def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return bool(await to_thread.run_sync(HASHER.verify, password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


async def sign_in_with_password(
    session: AsyncSession,
    throttle: SignInThrottle,
    name: str,
    password: str,
    client: str,
    lifetime: timedelta,
    now: datetime,
) -> SignedIn:
    """A session for a local user whose password matches; 401 otherwise (never saying
    which of the two was wrong), 429 after too many failures for the name or address."""
    keys = (f"name:{name}", f"address:{client}")
    _throttled(throttle, keys)
    user = await repo.get_user(session, name)
    matches = await _password_matches(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not matches or user.disabled_at is not None:
        throttle.failed(keys, time.monotonic())
        raise SignInRefused("That name and password do not match a console user.")
    throttle.succeeded(keys[0])
    roles: list[Role] = check_roles(user.roles)
    return await _issue(session, user.name, scopes_for(roles), now + lifetime)


async def sign_in_with_key(
    session: AsyncSession,
    verifier: KeyVerifier,
    throttle: SignInThrottle,
    raw_key: str,
    client: str,
    lifetime: timedelta,
    now: datetime,
) -> SignedIn:
    """A session for the holder of a personal API key, with that key's scopes; the key
    itself is never kept (the session has a short-lived key of its own)."""
    keys = (f"address:{client}",)
    _throttled(throttle, keys)
    try:
        principal = await verifier.verify(raw_key.strip())
    except Unauthorized as exc:
        throttle.failed(keys, time.monotonic())
        raise SignInRefused(f"That API key cannot sign in: {exc.detail}") from exc
    person = await repo.get_user(session, principal.name)
    if person is not None and person.disabled_at is not None:
        # A console user who was disabled does not come back in with a key of theirs.
        raise SignInRefused(f"{principal.name} is disabled in the console.")
    return await _issue(session, principal.name, sorted(principal.scopes), now + lifetime)


async def _issue(
    session: AsyncSession, name: str, scopes: list[str], expires_at: datetime
) -> SignedIn:
    try:
        key, raw = await issue_session_key(session, name, scopes, expires_at)
    except Forbidden as exc:
        raise SignInRefused(f"{name} cannot sign in to the console: {exc.detail}") from exc
    return SignedIn(raw, key.id, name, expires_at)


async def sign_in(
    session: AsyncSession,
    verifier: KeyVerifier,
    throttle: SignInThrottle,
    credentials: Credentials,
    client: str,
    lifetime: timedelta,
    now: datetime,
) -> SignedIn:
    """A session for whoever the credentials are: an API key when one is given, else a
    name and password (422 naming the field when neither is complete)."""
    if credentials.api_key:
        return await sign_in_with_key(
            session, verifier, throttle, credentials.api_key, client, lifetime, now
        )
    missing = [f for f in ("name", "password") if not getattr(credentials, f)]
    if missing:
        raise Unprocessable(
            "Give a name and password, or an API key.",
            errors=[FieldError(detail="required", pointer=f"/{f}") for f in missing],
        )
    return await sign_in_with_password(
        session, throttle, credentials.name, credentials.password, client, lifetime, now
    )


async def sign_out(session: AsyncSession, key_id: uuid.UUID) -> None:
    """End a session: its key stops working on every service."""
    await end_session_key(session, key_id)
