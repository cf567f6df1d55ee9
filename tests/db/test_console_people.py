"""The console's people: created with roles, signed in with a password or a personal key."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.console.domain.throttle import SignInThrottle
from services.console.repository import list_user_events
from services.console.service.audit import AuditQuery, people_page
from services.console.service.sessions import Credentials, sign_in, sign_out
from services.console.service.users import create_user, disable_user
from shared.audit import AuditFilter
from shared.auth import KeyVerifier
from shared.cli import create_key_at
from shared.db import (
    create_engine,
    service_url,
    session_factory,
    standalone_unit_of_work,
    unit_of_work,
)
from shared.errors import (
    BadRequest,
    NotFound,
    SignInRefused,
    SignInThrottled,
    Unauthorized,
    Unprocessable,
    UserExists,
)
from shared.pagination import CursorSigner

PASSWORD = "a long enough password"
HOUR = timedelta(hours=1)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(service_url(database_url, "console"))
    yield session_factory(engine)
    await engine.dispose()


def someone() -> str:
    return f"p-{uuid.uuid4().hex[:10]}"


async def test_a_user_signs_in_with_their_roles_scopes_and_out_again(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    name = someone()
    async with unit_of_work(sessions) as session:
        roles = await create_user(session, name, PASSWORD, ["finance", "approver", "finance"])
    assert roles == ["approver", "finance"]
    verifier = KeyVerifier(sessions, 0)
    now = datetime.now(UTC)
    async with unit_of_work(sessions) as session:
        signed = await sign_in(
            session, verifier, SignInThrottle(5, 60), Credentials(name, PASSWORD), "ip", HOUR, now
        )
    principal = await verifier.verify(signed.key)
    assert principal.name == name
    assert {"offers:approve", "offers:approve_finance", "offers:read"} <= principal.scopes
    assert "admin" not in principal.scopes
    assert signed.expires_at == now + HOUR
    async with unit_of_work(sessions) as session:
        await sign_out(session, signed.key_id)
    with pytest.raises(Unauthorized):
        await verifier.verify(signed.key)


@pytest.mark.parametrize(
    ("name", "password", "roles", "pointer"),
    [
        ("Ann Smith", PASSWORD, ["viewer"], "/name"),
        ("service:console", PASSWORD, ["viewer"], "/name"),
        ("ann", "short", ["viewer"], "/password"),
        ("ann", PASSWORD, ["overlord"], "/roles"),
        ("ann", PASSWORD, [], "/roles"),
    ],
)
async def test_a_user_that_cannot_be_made_is_refused_naming_the_field(
    sessions: async_sessionmaker[AsyncSession],
    name: str,
    password: str,
    roles: list[str],
    pointer: str,
) -> None:
    async with sessions() as session:
        with pytest.raises(Unprocessable) as refused:
            await create_user(session, name, password, roles)
    assert [e.pointer for e in refused.value.errors] == [pointer]


async def test_a_name_is_one_person(sessions: async_sessionmaker[AsyncSession]) -> None:
    name = someone()
    async with unit_of_work(sessions) as session:
        await create_user(session, name, PASSWORD, ["viewer"])
    async with sessions() as session:
        with pytest.raises(UserExists):
            await create_user(session, name, PASSWORD + "!", ["admin"])


async def test_wrong_passwords_are_refused_alike_and_then_throttled(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    name = someone()
    async with unit_of_work(sessions) as session:
        await create_user(session, name, PASSWORD, ["viewer"])
    throttle = SignInThrottle(allowed=2, window=600)
    verifier = KeyVerifier(sessions, 0)
    now = datetime.now(UTC)
    for credentials in (Credentials(name, "wrong"), Credentials("nobody-at-all", PASSWORD)):
        async with sessions() as session:
            with pytest.raises(SignInRefused, match="do not match"):
                await sign_in(session, verifier, throttle, credentials, "10.0.0.9", HOUR, now)
    async with sessions() as session:  # the right password, but from an address that failed
        with pytest.raises(SignInThrottled, match="try again in"):
            await sign_in(
                session, verifier, throttle, Credentials(name, PASSWORD), "10.0.0.9", HOUR, now
            )
    async with unit_of_work(sessions) as session:  # another address still may
        await sign_in(
            session, verifier, throttle, Credentials(name, PASSWORD), "10.0.0.10", HOUR, now
        )


async def test_a_personal_key_signs_in_with_its_scopes_without_being_kept(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    _key, personal = await create_key_at(database_url, "cara", ["offers:read", "scores:write"])
    verifier = KeyVerifier(sessions, 0)
    async with unit_of_work(sessions) as session:
        signed = await sign_in(
            session,
            verifier,
            SignInThrottle(5, 60),
            Credentials(api_key=personal),
            "ip",
            HOUR,
            datetime.now(UTC),
        )
    assert signed.key != personal
    principal = await verifier.verify(signed.key)
    assert (principal.name, principal.scopes) == (
        "cara",
        frozenset({"offers:read", "scores:write"}),
    )
    async with sessions() as session:
        with pytest.raises(SignInRefused, match="cannot sign in"):
            await sign_in(
                session,
                verifier,
                SignInThrottle(5, 60),
                Credentials(api_key="tnr_not-a-key"),
                "ip",
                HOUR,
                datetime.now(UTC),
            )


async def test_disabling_a_person_ends_their_sessions_and_keeps_them_out(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    name = someone()
    _key, personal = await create_key_at(database_url, name, ["offers:read"])
    verifier = KeyVerifier(sessions, 0)
    async with unit_of_work(sessions) as session:
        await create_user(session, name, PASSWORD, ["viewer"])
        signed = await sign_in(
            session,
            verifier,
            SignInThrottle(5, 60),
            Credentials(name, PASSWORD),
            "ip",
            HOUR,
            datetime.now(UTC),
        )
    # The operator's connection: the console's own role may not revoke keys.
    for _ in range(2):
        async with standalone_unit_of_work(database_url) as session:
            await disable_user(session, name)
    with pytest.raises(Unauthorized, match="revoked"):
        await verifier.verify(signed.key)
    for credentials in (Credentials(name, PASSWORD), Credentials(api_key=personal)):
        async with sessions() as session:
            with pytest.raises(SignInRefused):
                await sign_in(
                    session,
                    verifier,
                    SignInThrottle(5, 60),
                    credentials,
                    "ip",
                    HOUR,
                    datetime.now(UTC),
                )
    # Their personal key is revoked too: it works on no service.
    with pytest.raises(Unauthorized, match="revoked"):
        await verifier.verify(personal)
    async with sessions() as session:
        events = await list_user_events(session, AuditFilter(), before=None, limit=10)
    mine = [(e.event, e.principal, e.roles) for e in events if e.name == name]
    assert mine == [("disabled", "tenure", ["viewer"]), ("created", "tenure", ["viewer"])]
    async with standalone_unit_of_work(database_url) as session:
        with pytest.raises(NotFound):
            await disable_user(session, someone())


async def test_a_page_of_the_peoples_log_continues_only_under_its_own_filters(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with unit_of_work(sessions) as session:
        for _ in range(2):
            await create_user(session, someone(), PASSWORD, ["viewer"])
    signer = CursorSigner(b"k" * 32)
    by_operator = AuditQuery(principal="tenure")
    async with sessions() as session:
        first = await people_page(session, signer, by_operator, 1)
        cursor = {"people": first["next_cursor"]}
        second = await people_page(session, signer, AuditQuery("tenure", cursors=cursor), 1)
        with pytest.raises(BadRequest, match="cursor is not valid"):
            await people_page(session, signer, AuditQuery(cursors=cursor), 1)
    assert first["items"][0] != second["items"][0]
