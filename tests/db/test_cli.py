"""The operator's `tenure` command: migrate and manage keys against a real database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from sqlalchemy import select, text

from shared.auth import ApiKey, KeyVerifier
from shared.cli import ADMIN_PRINCIPAL, ensure_admin_key
from shared.db import create_engine, role_name, service_url, session_factory
from shared.errors import Unauthorized
from shared.settings import APP_NAMES
from tests.db.test_schema import password_matches

TENURE = [sys.executable, "-c", "from shared.cli import app; app()"]


def tenure(
    database_url: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, **(env or {})}
    return subprocess.run(
        [*TENURE, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


async def test_db_upgrade_is_idempotent(fresh_database: str) -> None:
    result = await asyncio.to_thread(tenure, fresh_database, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert "migrated" in result.stderr


async def test_keys_create_list_revoke(fresh_database: str) -> None:
    created = await asyncio.to_thread(
        tenure,
        fresh_database,
        "keys",
        "create",
        "--principal",
        "crm",
        "--scope",
        "ingest:write",
        "--scope",
        "ingest:read",
    )
    assert created.returncode == 0, created.stderr
    raw = created.stdout.strip()
    assert raw.startswith("tnr_")
    key_id = created.stderr.split("id ")[1].split()[0]

    listed = await asyncio.to_thread(tenure, fresh_database, "keys", "list")
    assert "crm" in listed.stdout
    assert raw not in listed.stdout

    engine = create_engine(service_url(fresh_database, "ingest"))
    verifier = KeyVerifier(session_factory(engine), cache_seconds=0)
    try:
        principal = await verifier.verify(raw)
        assert principal.name == "crm"
        assert principal.scopes == {"ingest:write", "ingest:read"}
        revoked = await asyncio.to_thread(tenure, fresh_database, "keys", "revoke", key_id)
        assert revoked.returncode == 0, revoked.stderr
        with pytest.raises(Unauthorized, match="revoked"):
            await verifier.verify(raw)
    finally:
        await engine.dispose()

    bad_scope = await asyncio.to_thread(
        tenure, fresh_database, "keys", "create", "--principal", "x", "--scope", "root"
    )
    assert bad_scope.returncode == 2
    assert "unknown scopes: root" in bad_scope.stderr
    missing = await asyncio.to_thread(
        tenure, fresh_database, "keys", "revoke", "00000000-0000-0000-0000-000000000000"
    )
    assert missing.returncode == 1


async def test_admin_key_is_made_once(fresh_database: str) -> None:
    first = await ensure_admin_key(fresh_database)
    second = await ensure_admin_key(fresh_database)
    assert first is not None
    assert first.startswith("tnr_")
    assert second is None
    engine = create_engine(fresh_database)
    try:
        async with session_factory(engine)() as session:
            admins = (
                await session.scalars(select(ApiKey).where(ApiKey.principal == ADMIN_PRINCIPAL))
            ).all()
    finally:
        await engine.dispose()
    assert len(admins) == 1
    assert admins[0].scopes == ["admin"]


async def test_db_upgrade_gives_each_role_the_password_set_for_it(fresh_database: str) -> None:
    passwords = {f"TENURE_{s.upper()}_DB_PASSWORD": f"pw-{s}" for s in APP_NAMES}
    engine = create_engine(fresh_database)
    try:
        result = await asyncio.to_thread(tenure, fresh_database, "db", "upgrade", env=passwords)
        assert result.returncode == 0, result.stderr
        async with engine.connect() as conn:
            stored = {
                r[0]: r[1]
                for r in await conn.execute(
                    text("SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY(:r)"),
                    {"r": [role_name(s) for s in APP_NAMES]},
                )
            }
    finally:
        # Roles are the server's: put back the password-less roles the other tests use.
        async with engine.begin() as conn:
            for service in APP_NAMES:
                await conn.execute(text(f"ALTER ROLE {role_name(service)} PASSWORD NULL"))
        await engine.dispose()
    for service in APP_NAMES:
        role = role_name(service)
        assert password_matches(stored[role], role, f"pw-{service}")
