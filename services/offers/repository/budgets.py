"""Program budgets: reserved by one conditional statement each, released by another.

A reservation is an upsert whose update only happens while the committed total plus the
offer's value stays within the cap, so concurrent proposals (in any number of processes)
serialise on the budget's row and can never take it past its cap.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.offers.domain.offers import COMMITTING
from services.offers.models import Budget, Offer
from shared.arrays import text_array

_RESERVE = text(
    """
    INSERT INTO offers.budgets AS b (program_id, scope, committed_minor)
    SELECT :program_id, :scope, CAST(:amount AS bigint)
    WHERE CAST(:amount AS bigint) <= CAST(:cap AS bigint)
    ON CONFLICT (program_id, scope) DO UPDATE
        SET committed_minor = b.committed_minor + excluded.committed_minor
        WHERE b.committed_minor + excluded.committed_minor <= CAST(:cap AS bigint)
    RETURNING committed_minor
    """
)


async def reserve(
    session: AsyncSession, program_id: str, scope: str, amount: int, cap: int
) -> bool:
    """Commit ``amount`` against a budget if it fits under ``cap``; False (nothing changed)
    when it does not."""
    row = await session.execute(
        _RESERVE, {"program_id": program_id, "scope": scope, "amount": amount, "cap": cap}
    )
    return row.first() is not None


async def release(session: AsyncSession, program_id: str, scopes: list[str], amount: int) -> None:
    """Give ``amount`` back to each of the budgets an offer reserved against (in scope
    order, the order reservations lock them in); a negative amount commits it again."""
    if amount == 0:
        return
    for scope in sorted(scopes):
        await session.execute(
            update(Budget)
            .where(Budget.program_id == program_id, Budget.scope == scope)
            .values(committed_minor=Budget.committed_minor - amount)
        )


async def committed(session: AsyncSession, program_id: str) -> dict[str, int]:
    """What is committed against each of a program's budgets, by scope."""
    rows = await session.execute(
        select(Budget.scope, Budget.committed_minor).where(Budget.program_id == program_id)
    )
    return {scope: amount for scope, amount in rows.all()}


async def committed_since(
    session: AsyncSession, program_id: str, since: datetime
) -> dict[str, int]:
    """What a program's offers created after ``since`` still commit against each of its
    budgets (their value less what they gave back), by scope."""
    scope = func.unnest(Offer.budget_scopes).label("scope")
    offers = (
        select(scope, (Offer.value_minor - Offer.released_minor).label("held"))
        .where(
            Offer.program_id == program_id,
            Offer.created_at > since,
            Offer.state == func.any(text_array(sorted(COMMITTING))),
        )
        .subquery()
    )
    rows = await session.execute(
        select(offers.c.scope, func.sum(offers.c.held)).group_by(offers.c.scope)
    )
    return {scope: int(amount) for scope, amount in rows.all()}


async def committed_in(
    session: AsyncSession, program_ids: Collection[str], scope: str
) -> dict[str, int]:
    """What is committed against one budget scope of each of these programs, by program id,
    in one query (a program that never reserved against it is absent: nothing committed)."""
    if not program_ids:
        return {}
    rows = await session.execute(
        select(Budget.program_id, Budget.committed_minor).where(
            Budget.program_id.in_(program_ids), Budget.scope == scope
        )
    )
    return {program_id: amount for program_id, amount in rows.all()}
