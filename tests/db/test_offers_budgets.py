"""Budgets on a real database: the reservation statement agrees with the pure rule, and
concurrent reservations never take a budget past its cap."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.offers.domain.decisions import fits
from services.offers.models import Program
from services.offers.repository import budgets
from shared.db import create_engine, service_url, session_factory, unit_of_work


@pytest.fixture
async def factory(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(service_url(database_url, "offers"), pool_size=20)
    yield session_factory(engine)
    await engine.dispose()


async def new_program(factory: async_sessionmaker[AsyncSession]) -> str:
    program_id = f"budget-test-{uuid.uuid4().hex[:8]}"
    async with unit_of_work(factory) as session:
        session.add(
            Program(
                id=program_id, status="active", live_version=1, latest_version=1, created_by="t"
            )
        )
    return program_id


@pytest.mark.parametrize(
    ("committed", "value", "cap"),
    [(0, 0, 0), (0, 1, 0), (0, 10, 10), (5, 5, 10), (5, 6, 10), (0, 11, 10), (10, 0, 10)],
)
async def test_a_reservation_is_taken_exactly_when_the_rule_says_it_fits(
    factory: async_sessionmaker[AsyncSession], committed: int, value: int, cap: int
) -> None:
    program_id = await new_program(factory)
    async with unit_of_work(factory) as session:
        if committed:
            assert await budgets.reserve(session, program_id, "program", committed, committed)
        taken = await budgets.reserve(session, program_id, "program", value, cap)
        assert taken == fits(committed, value, cap)
        expected = committed + value if taken else committed
        assert (await budgets.committed(session, program_id)).get("program", 0) == expected


async def test_fifty_concurrent_reservations_take_exactly_what_fits(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    program_id = await new_program(factory)

    async def reserve() -> bool:
        async with unit_of_work(factory) as session:
            return await budgets.reserve(session, program_id, "program", 1_000, 10_000)

    taken = await asyncio.gather(*(reserve() for _ in range(50)))
    assert sum(taken) == 10
    async with factory() as session:
        assert await budgets.committed(session, program_id) == {"program": 10_000}


async def test_a_release_gives_back_to_each_budget_of_the_offer(
    factory: async_sessionmaker[AsyncSession],
) -> None:
    program_id = await new_program(factory)
    async with unit_of_work(factory) as session:
        assert await budgets.reserve(session, program_id, "program", 700, 1_000)
        assert await budgets.reserve(session, program_id, "tier:gold", 700, 800)
        await budgets.release(session, program_id, ["tier:gold", "program"], 300)
        assert await budgets.committed(session, program_id) == {"program": 400, "tier:gold": 400}
        assert await budgets.reserve(session, program_id, "tier:gold", 400, 800)
