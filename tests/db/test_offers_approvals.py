"""The approvals inbox reads a page in a fixed number of queries, however long the page."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter
from sqlalchemy import event, insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.offers.domain.programs import ProgramDefinition
from services.offers.models import ProgramVersion
from services.offers.repository import budgets
from services.offers.repository import offers as repo
from services.offers.service import approvals as service
from shared.auth import Principal
from shared.db import create_engine, service_url, session_factory, unit_of_work
from shared.pagination import CursorSigner, PageRequest
from tests.db.test_offers_lifecycle import new_program, offer_row

BOB = Principal(uuid.uuid4(), "bob", frozenset({"offers:approve", "offers:read"}))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(service_url(database_url, "offers"))
    yield engine
    await engine.dispose()


@contextmanager
def counted(engine: AsyncEngine) -> Iterator[list[str]]:
    """The statements the engine runs meanwhile."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


def first_page(shape: Any, limit: int) -> PageRequest[Any]:
    signer = CursorSigner(b"k" * 32)
    return PageRequest(
        after=None, limit=limit, scope="t", signer=signer, adapter=TypeAdapter(shape)
    )


async def programs_with_offers(factory: async_sessionmaker[AsyncSession]) -> None:
    """Three programs with a version each (one pending edit), two offers awaiting approval
    each, against their program budgets."""
    async with unit_of_work(factory) as session:
        for _ in range(3):
            program_id = await new_program(session)
            body = {
                "name": "p",
                "owner": "owner",
                "trigger": "true",
                "reward": {"kind": "credit", "amount": {"amount_minor": 5000}},
                "limits": {"budget_minor": 100_000},
            }
            document = ProgramDefinition.model_validate(body).model_dump(mode="json")
            now = datetime.now(UTC)
            for version, state in ((1, "live"), (2, "pending")):
                await session.execute(
                    insert(ProgramVersion).values(
                        program_id=program_id,
                        version=version,
                        definition=document,
                        state=state,
                        created_by="author",
                        created_at=now,
                    )
                )
            rows = [offer_row(program_id, created_at=now, updated_at=now) for _ in range(2)]
            await repo.insert_offers(session, rows)
            assert await budgets.reserve(session, program_id, "program", 10_000, 100_000)


async def test_a_page_of_the_inbox_takes_the_same_queries_whatever_its_length(
    engine: AsyncEngine,
) -> None:
    factory = session_factory(engine)
    await programs_with_offers(factory)
    counts = {}
    for limit in (1, 500):
        async with unit_of_work(factory) as session:
            with counted(engine) as seen:
                page = await service.pending_offers(
                    session, BOB, False, first_page(service.OfferPosition, limit), datetime.now(UTC)
                )
        assert len(page.items) >= min(limit, 6)
        counts[limit] = len([s for s in seen if s.lstrip().upper().startswith("SELECT")])
    # The offers, then one batch each: approvals, reasons, statuses, definitions, budgets.
    assert counts == {1: 6, 500: 6}

    counts = {}
    for limit in (1, 500):
        async with unit_of_work(factory) as session:
            with counted(engine) as seen:
                versions = await service.pending_versions(
                    session, BOB, first_page(service.VersionPosition, limit)
                )
        assert len(versions.items) >= min(limit, 3)
        counts[limit] = len([s for s in seen if s.lstrip().upper().startswith("SELECT")])
    # The versions with their programs, then the live versions' definitions.
    assert counts == {1: 2, 500: 2}
