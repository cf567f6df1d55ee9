"""Requests generated from ingest's own OpenAPI never get a 500 (schemathesis + hypothesis).

Both schema-conforming and deliberately malformed requests are sent to a real ingest
process on a database of its own (the fuzzer changes global settings such as the event map).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Err

from shared import migrate
from tests.conftest import create_database, drop_database, make_key, service_keys
from tests.support import ServiceProcess, scratch_database_name, with_database

EXAMPLES_PER_OPERATION = 20


@pytest.fixture(scope="module")
async def fuzz_target(server_url: str) -> AsyncIterator[tuple[ServiceProcess, str]]:
    name = scratch_database_name()
    await create_database(server_url, name)
    url = with_database(server_url, name)
    await migrate.upgrade(url)
    keys = await service_keys(url)
    admin = await make_key(url, "admin")
    ingest = ServiceProcess("ingest", url, env={"TENURE_SERVICE_API_KEY": keys["ingest"]})
    await asyncio.to_thread(ingest.start)
    yield ingest, admin
    ingest.stop()
    await drop_database(server_url, name)


def fuzz(base_url: str, admin: str) -> list[str]:
    """Send generated requests to every operation; return those that got a 5xx."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    failures: list[str] = []
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {admin}"
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            failures.append(f"the schema has an invalid operation: {result.err()}")
            continue
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                response = case.call(base_url=base_url, session=session)
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} -> {response.status_code}: "
                        f"{response.text[:300]}"
                    )

            try:
                run()
            except Unsatisfiable:
                continue  # nothing to make invalid in this operation (e.g. GET /healthz)
    return failures


async def test_no_generated_request_gets_a_server_error(
    fuzz_target: tuple[ServiceProcess, str],
) -> None:
    ingest, admin = fuzz_target
    failures = await asyncio.to_thread(fuzz, ingest.url, admin)
    assert failures == []
