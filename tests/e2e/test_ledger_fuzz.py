"""Requests generated from the ledger's own OpenAPI never get a 500 (schemathesis)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from shared import migrate
from tests.conftest import create_database, drop_database, make_key
from tests.e2e.test_api_fuzz import fuzz
from tests.support import ServiceProcess, scratch_database_name, with_database


@pytest.fixture(scope="module")
async def ledger_target(server_url: str) -> AsyncIterator[tuple[ServiceProcess, str]]:
    # A database of its own: generated writes (and expiry runs) must not touch other tests'.
    name = scratch_database_name()
    await create_database(server_url, name)
    url = with_database(server_url, name)
    await migrate.upgrade(url)
    admin = await make_key(url, "admin")
    ledger = ServiceProcess("ledger", url)
    await asyncio.to_thread(ledger.start)
    yield ledger, admin
    ledger.stop()
    await drop_database(server_url, name)


async def test_no_generated_request_to_the_ledger_gets_a_server_error(
    ledger_target: tuple[ServiceProcess, str],
) -> None:
    ledger, admin = ledger_target
    failures = await asyncio.to_thread(fuzz, ledger.url, admin)
    assert failures == []
