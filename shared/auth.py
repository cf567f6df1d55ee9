"""API keys: ``tnr_`` keys with a named principal and scopes, stored only as a hash.

Keys live in the ``auth`` schema, the platform's identity store: every service role may read
it, so one key works on every service within its scopes. No service role may write it: a
key's last use is stamped through ``auth.stamp_key_use`` (which sets only ``last_used_at``),
and the admin API creates and revokes keys through ``auth.create_key``/``auth.revoke_key``,
which act only for the plaintext of a live admin key (migration ``auth_0002``) and record
that key's principal as who made or revoked the key (``auth_0004``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import Request
from sqlalchemy import (
    DateTime,
    Index,
    String,
    TextClause,
    case,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.database_errors import database_error_message, database_error_state
from shared.db import schema_metadata
from shared.errors import Forbidden, Unauthorized, Unprocessable
from shared.ratelimit import EXEMPT_PRINCIPALS, RateLimiter
from shared.settings import SERVICE_PRINCIPAL_PREFIX

KEY_PREFIX = "tnr_"
SCOPES = (
    "ingest:write",
    "ingest:read",
    "scores:read",
    "scores:write",
    "offers:read",
    "offers:write",
    "offers:approve",
    "offers:approve_finance",
    "ledger:read",
    "ledger:write",
    "admin",
)
# Scopes each service's own key carries when it calls the others.
SERVICE_SCOPES = {
    "ingest": ("scores:write",),
    "scoring": ("ingest:read", "offers:write"),
    "offers": ("scores:read", "ingest:read", "ledger:write", "ledger:read"),
    "ledger": ("offers:write",),
}
_INSUFFICIENT_PRIVILEGE = "42501"
# Who the key store records for the operator's own connection: the ``tenure`` command line
# and the platform's start-up (the admin API and the console record their callers).
OPERATOR = "tenure"


class AuthBase(DeclarativeBase):
    """Base of the ``auth`` schema's tables."""

    metadata = schema_metadata("auth")


class ApiKey(AuthBase):
    """A stored API key: only its SHA-256 hash is kept."""

    __tablename__ = "api_keys"
    # The audit log reads keys newest first by when they were made, and when they ended.
    __table_args__ = (
        Index("ix_api_keys_created_at_id", "created_at", "id"),
        Index(
            "ix_api_keys_revoked_at_id",
            "revoked_at",
            "id",
            postgresql_where=text("revoked_at IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    display_prefix: Mapped[str] = mapped_column(String(16))
    principal: Mapped[str] = mapped_column(String(200))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A console session's key stops working at this instant (auth_0003); others never expire.
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Who made and who ended it (auth_0004; null on keys made before it recorded them).
    created_by: Mapped[str | None] = mapped_column(String(200))
    revoked_by: Mapped[str | None] = mapped_column(String(200))


@dataclass(frozen=True)
class Principal:
    """Who is calling, and what they may do."""

    key_id: uuid.UUID
    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        """Whether this principal holds ``scope`` (``admin`` holds every scope)."""
        return "admin" in self.scopes or scope in self.scopes


_PRINCIPAL = re.compile(r"[a-z0-9][a-z0-9._@+-]*(:[a-z0-9._@+-]+)*")
_RESERVED_PREFIXES = (SERVICE_PRINCIPAL_PREFIX, "policy:")
_RESERVED_NAMES = frozenset({"tenure", "ledger"})


def check_principal_name(principal: str) -> str:
    """``principal`` if it may name a key's (or a console person's) holder; ValueError why not.

    Every four-eyes rule compares principals as strings: "ann", "Ann", "ann " and
    "ann\u200b" must not be four people. Service keys are issued by tenure up, revoked at its
    next start and not rate limited: a key minted under such a name would be both. The
    other reserved names are the platform itself in offers' history (the defaults' owner,
    the auto-approver, the ledger).
    """
    if not _PRINCIPAL.fullmatch(principal):
        raise ValueError(
            "a principal is lower case letters, digits and . _ @ + - (parts joined by"
            " one ':'), with no spaces"
        )
    if principal.startswith(_RESERVED_PREFIXES) or principal in _RESERVED_NAMES:
        raise ValueError(f"{principal!r} is reserved for the platform's own principals")
    return principal


def hash_key(raw: str) -> str:
    """SHA-256 of a key; keys are 256-bit random, so a fast hash is the right one."""
    return hashlib.sha256(raw.encode()).hexdigest()


def generate_key() -> str:
    """A new random API key."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def validate_scopes(scopes: list[str]) -> list[str]:
    """The scopes, deduplicated and sorted; unknown ones are refused."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise Unprocessable.for_field("/scopes", f"unknown scopes: {', '.join(unknown)}")
    if not scopes:
        raise Unprocessable.for_field("/scopes", "at least one scope is required")
    return sorted(set(scopes))


async def create_key(
    session: AsyncSession, principal: str, scopes: list[str], *, admin_key: str | None = None
) -> tuple[ApiKey, str]:
    """Store a new key and return it with its plaintext (shown once, never stored).

    A service's session may not write keys: it passes ``admin_key``, the caller's plaintext
    admin key, and the database creates the key only for a live admin key. The operator's
    administrative connection (``tenure keys create``) passes none.
    """
    raw = generate_key()
    values = {
        "id": uuid.uuid4(),
        "key_hash": hash_key(raw),
        "display_prefix": raw[:12],
        "principal": principal,
        "scopes": validate_scopes(scopes),
    }
    if admin_key is None:
        key = ApiKey(**values, created_by=OPERATOR)
        session.add(key)
        await session.flush()
        return key, raw
    call = text(
        "SELECT * FROM auth.create_key(:admin_key, :id, :key_hash, :display_prefix,"
        " :principal, :scopes)"
    ).bindparams(admin_key=admin_key, **values)
    created = await _as_admin(session, call)
    assert created is not None  # an INSERT returns its row
    return created, raw


async def _as_admin(session: AsyncSession, call: TextClause) -> ApiKey | None:
    """The key a key-store function returned; Forbidden when it refused the admin key."""
    # Checked by ``require("admin")`` first: only a key revoked since then is refused here.
    return await _as_key_store(session, call, "Only a live admin key may create or revoke keys")


async def _as_key_store(session: AsyncSession, call: TextClause, refused: str) -> ApiKey | None:
    """The key a key-store function returned; Forbidden (``refused``, and the function's
    reason) when it refused."""
    try:
        # The function's row, even over a copy of the key this session loaded before.
        query = select(ApiKey).from_statement(call).execution_options(populate_existing=True)
        return (await session.scalars(query)).first()
    except DBAPIError as exc:
        if database_error_state(exc) == _INSUFFICIENT_PRIVILEGE:
            raise Forbidden(f"{refused}: {database_error_message(exc)}.") from exc
        raise


async def revoke_principal_keys(session: AsyncSession, principal: str) -> None:
    """Revoke every live key of a principal (service keys re-issued, a person disabled), as
    the operator's change."""
    await session.execute(
        update(ApiKey)
        .where(ApiKey.principal == principal, ApiKey.revoked_at.is_(None))
        .values(revoked_at=func.now(), revoked_by=OPERATOR)
    )


async def list_keys(
    session: AsyncSession, *, after: tuple[datetime, uuid.UUID] | None, limit: int | None
) -> Sequence[ApiKey]:
    """Keys in creation order, after a position."""
    query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id).limit(limit)
    if after is not None:
        query = query.where(func.row(ApiKey.created_at, ApiKey.id) > func.row(*after))
    return (await session.scalars(query)).all()


async def revoke_key(
    session: AsyncSession, key_id: uuid.UUID, *, admin_key: str | None = None
) -> ApiKey | None:
    """Revoke a key (revoking twice keeps the first time); None if there is no such key.

    ``admin_key`` as for :func:`create_key`.
    """
    if admin_key is not None:
        call = text("SELECT * FROM auth.revoke_key(:admin_key, :key_id)").bindparams(
            admin_key=admin_key, key_id=key_id
        )
        return await _as_admin(session, call)
    first_time = ApiKey.revoked_at.is_(None)
    return await session.scalar(
        update(ApiKey)
        .where(ApiKey.id == key_id)
        .values(
            revoked_at=func.coalesce(ApiKey.revoked_at, func.now()),
            revoked_by=case((first_time, OPERATOR), else_=ApiKey.revoked_by),
        )
        .returning(ApiKey)
    )


async def issue_session_key(
    session: AsyncSession, principal: str, scopes: list[str], expires_at: datetime
) -> tuple[ApiKey, str]:
    """A key for ``principal`` that stops working at ``expires_at`` (the console's sign-in).

    Through ``auth.issue_session_key``, which only the console's role may call: it refuses
    a lifetime over 12 hours and the platform's reserved principals (Forbidden).
    """
    raw = generate_key()
    call = text(
        "SELECT * FROM auth.issue_session_key(:id, :key_hash, :display_prefix, :principal,"
        " :scopes, :expires_at)"
    ).bindparams(
        id=uuid.uuid4(),
        key_hash=hash_key(raw),
        display_prefix=raw[:12],
        principal=principal,
        scopes=validate_scopes(scopes),
        expires_at=expires_at,
    )
    created = await _as_key_store(session, call, "The key store refused a session key")
    assert created is not None  # an INSERT returns its row
    return created, raw


async def end_session_key(session: AsyncSession, key_id: uuid.UUID) -> None:
    """Revoke a session key (sign-out); keys that do not expire are never touched."""
    await session.execute(text("SELECT * FROM auth.end_session_key(:id)").bindparams(id=key_id))


class KeyVerifier:
    """Checks bearer keys against the store, caching accepted keys briefly per process."""

    def __init__(self, factory: async_sessionmaker[AsyncSession], cache_seconds: float) -> None:
        self._factory = factory
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Principal]] = {}

    async def verify(self, raw: str) -> Principal:
        """The principal behind ``raw``, or ``Unauthorized``."""
        if not raw.startswith(KEY_PREFIX) or len(raw) > 200:
            raise Unauthorized("The API key is malformed.")
        digest = hash_key(raw)
        cached = self._cache.get(digest)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self._factory() as session, session.begin():
            row = await session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
            if row is None or not hmac.compare_digest(row.key_hash, digest):
                raise Unauthorized("The API key is not known.")
            if row.revoked_at is not None:
                raise Unauthorized("The API key has been revoked.")
            left = _seconds_left(row.expires_at)
            if left is not None and left <= 0:
                raise Unauthorized("The API key has expired.")
            # At most once a minute per key (the function decides): not a write per request.
            await session.execute(select(func.auth.stamp_key_use(row.id)))
            principal = Principal(row.id, row.principal, frozenset(row.scopes))
        # An expiring key is never trusted from the cache past its expiry.
        keep = self._cache_seconds if left is None else min(self._cache_seconds, left)
        self._cache[digest] = (now + keep, principal)
        return principal


def _seconds_left(expires_at: datetime | None) -> float | None:
    """Seconds until ``expires_at`` (negative once past), or None for a key that never ends."""
    if expires_at is None:
        return None
    return (expires_at - datetime.now(UTC)).total_seconds()


def bearer_token(request: Request) -> str | None:
    """The key from ``Authorization: Bearer`` (or ``X-API-Key``)."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value:
            return value.strip()
    return request.headers.get("x-api-key")


class Requirement:
    """A FastAPI dependency admitting callers whose key holds ``scope``.

    The request edge (``shared.limits``) runs the same check before a body is read, so a
    caller without a valid key is refused before it can make the server hold its upload.
    Not ``enforced``, it admits any known key and spends its allowance for ``scope``: for
    routes whose service decides, and explains, what the key's scopes allow.
    """

    def __init__(self, scope: str, *, enforced: bool = True) -> None:
        self.scope = scope
        self.enforced = enforced

    async def __call__(self, request: Request) -> Principal:
        return await admit(request, (self.scope,), enforced=self.enforced)


async def admit(request: Request, scopes: Sequence[str], *, enforced: bool = True) -> Principal:
    """The caller, once its key is known, holds every one of ``scopes`` (unless not
    ``enforced``) and is within its rate limit for them; checked once per request (the edge
    and each dependency share the answer)."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        raw = bearer_token(request)
        if not raw:
            raise Unauthorized("An API key is required (Authorization: Bearer tnr_...).")
        verifier: KeyVerifier = request.app.state.key_verifier
        principal = await verifier.verify(raw)
        if principal.name not in EXEMPT_PRINCIPALS:
            limiter: RateLimiter = request.app.state.rate_limiter
            for scope in scopes:
                limiter.take(str(principal.key_id), scope)
        request.state.principal = principal
    for scope in scopes if enforced else ():
        if not principal.allows(scope):
            raise Forbidden(f"The API key lacks the '{scope}' scope.")
    return principal


def require(scope: str) -> Requirement:
    """A FastAPI dependency admitting callers whose key holds ``scope``."""
    return Requirement(scope)
