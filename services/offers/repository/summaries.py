"""Programs' figures in batches: budgets, recent spend and offers by state for many programs
in one query each (a list of programs never asks once per program)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.offers.domain.offers import COMMITTING
from services.offers.models import Budget, Offer
from shared.arrays import text_array


async def committed_of(
    session: AsyncSession, program_ids: Collection[str]
) -> dict[str, dict[str, int]]:
    """What is committed against each budget of these programs: program id → scope → amount."""
    found: dict[str, dict[str, int]] = defaultdict(dict)
    if not program_ids:
        return found
    rows = await session.execute(
        select(Budget.program_id, Budget.scope, Budget.committed_minor).where(
            Budget.program_id == func.any(text_array(sorted(program_ids)))
        )
    )
    for program_id, scope, amount in rows.all():
        found[program_id][scope] = amount
    return found


async def committed_since_of(
    session: AsyncSession, program_ids: Collection[str], since: datetime
) -> dict[str, dict[str, int]]:
    """What these programs' offers created after ``since`` still commit against each of their
    budgets (as ``budgets.committed_since`` counts it for one): program id → scope → amount."""
    found: dict[str, dict[str, int]] = defaultdict(dict)
    if not program_ids:
        return found
    scope = func.unnest(Offer.budget_scopes).label("scope")
    offers = (
        select(Offer.program_id, scope, (Offer.value_minor - Offer.released_minor).label("held"))
        .where(
            Offer.program_id == func.any(text_array(sorted(program_ids))),
            Offer.created_at > since,
            Offer.state == func.any(text_array(sorted(COMMITTING))),
        )
        .subquery()
    )
    rows = await session.execute(
        select(offers.c.program_id, offers.c.scope, func.sum(offers.c.held)).group_by(
            offers.c.program_id, offers.c.scope
        )
    )
    for program_id, budget_scope, amount in rows.all():
        found[program_id][budget_scope] = int(amount)
    return found


async def offers_by_state(
    session: AsyncSession, program_ids: Collection[str]
) -> dict[str, dict[str, tuple[int, int]]]:
    """Each program's offers by state: program id → state → (count, value less given back)."""
    found: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    if not program_ids:
        return found
    rows = await session.execute(
        select(
            Offer.program_id,
            Offer.state,
            func.count(),
            func.coalesce(func.sum(Offer.value_minor - Offer.released_minor), text("0")),
        )
        .where(Offer.program_id == func.any(text_array(sorted(program_ids))))
        .group_by(Offer.program_id, Offer.state)
    )
    for program_id, state, count, held in rows.all():
        found[program_id][state] = (int(count), int(held))
    return found
