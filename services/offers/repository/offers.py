"""Offers and their history: rows in, rows out; the caller's unit of work commits."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Row, Select, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.offers.models import Approval, Decision, Offer, OfferEvent, Program


@dataclass
class NewOffer:
    """An offer being made, before it is stored: the columns of ``Offer``. (Thousands are
    made at once when a program first goes live over a book; a plain object is written
    in one statement, where mapped instances cost a flush each.)"""

    id: uuid.UUID
    account_id: str
    program_id: str
    program_version: int
    decision_id: int
    state: str
    reward: dict[str, Any]
    value_minor: int
    currency: str
    tier: str
    arr_minor: int
    approvals_required: int
    finance_required: bool
    budget_scopes: list[str]
    credit_expires_after: timedelta | None
    proposed_by: str
    owner: str
    snapshot: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    released_minor: int = 0
    granted_minor: int = 0
    redeemed_minor: int = 0
    remaining_minor: int = 0


async def insert_offers(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Store new offers (column values of ``Offer``)."""
    if rows:
        await session.execute(insert(Offer), list(rows))


async def insert_new_offers(session: AsyncSession, offers: Sequence[NewOffer]) -> None:
    """Store offers being made, in one statement."""
    await insert_offers(session, [vars(o) for o in offers])


async def add_events(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Append steps to offers' stories (column values of ``OfferEvent``, without ``id``)."""
    if rows:
        await session.execute(insert(OfferEvent), list(rows))


async def ledger_transactions_of(
    session: AsyncSession, offer_ids: Sequence[uuid.UUID]
) -> set[tuple[uuid.UUID, str]]:
    """(offer id, ledger transaction id) of every ledger movement already applied to these
    offers."""
    if not offer_ids:
        return set()
    rows = await session.execute(
        select(OfferEvent.offer_id, OfferEvent.detail["transaction_id"].astext).where(
            OfferEvent.offer_id.in_(offer_ids),
            OfferEvent.event.startswith("ledger_"),
        )
    )
    return {(offer_id, tx) for offer_id, tx in rows if tx is not None}


async def program_status(session: AsyncSession, program_id: str) -> str | None:
    """The status of an offer's program now."""
    return await session.scalar(select(Program.status).where(Program.id == program_id))


async def lock_offer(session: AsyncSession, offer_id: uuid.UUID) -> Offer | None:
    """An offer, locked (``FOR UPDATE``) until the unit of work ends, as stored now: whoever
    changes an offer takes this lock first, so changes to one offer take turns."""
    return await session.scalar(
        select(Offer)
        .where(Offer.id == offer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def lock_offers(
    session: AsyncSession, offer_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Offer]:
    """Offers locked as ``lock_offer`` does, in id order (so two units of work locking some
    of the same offers never wait on each other in a cycle), by id; unknown ids are absent."""
    if not offer_ids:
        return {}
    rows = await session.scalars(
        select(Offer)
        .where(Offer.id.in_(sorted(set(offer_ids))))
        .order_by(Offer.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {offer.id: offer for offer in rows}


async def get_offer(session: AsyncSession, offer_id: uuid.UUID) -> Offer | None:
    """An offer, unlocked."""
    return await session.get(Offer, offer_id)


async def approvals_of(session: AsyncSession, offer_id: uuid.UUID) -> Sequence[Approval]:
    """The approvals an offer has, in the order they were given."""
    rows = await session.scalars(
        select(Approval).where(Approval.offer_id == offer_id).order_by(Approval.at, Approval.slot)
    )
    return rows.all()


async def add_approval(
    session: AsyncSession,
    offer_id: uuid.UUID,
    slot: str,
    principal: str,
    at: datetime,
    comment: str | None,
) -> bool:
    """Record an approval in its slot; False (nothing written) when the slot is filled or the
    principal already fills another: the table's keys are the last word on both."""
    row = await session.execute(
        pg_insert(Approval)
        .values(offer_id=offer_id, slot=slot, principal=principal, at=at, comment=comment)
        .on_conflict_do_nothing()
        .returning(Approval.slot)
    )
    return row.first() is not None


@dataclass(frozen=True)
class OfferFilters:
    """What a list of offers is narrowed to (None: any)."""

    account_id: str | None = None
    program_id: str | None = None
    state: str | None = None


async def list_offers(
    session: AsyncSession,
    filters: OfferFilters,
    *,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[Offer]:
    """Offers newest first (by creation, then id), those after ``before`` in that order."""
    query = select(Offer).order_by(Offer.created_at.desc(), Offer.id.desc()).limit(limit)
    if filters.account_id is not None:
        query = query.where(Offer.account_id == filters.account_id)
    if filters.program_id is not None:
        query = query.where(Offer.program_id == filters.program_id)
    if filters.state is not None:
        query = query.where(Offer.state == filters.state)
    if before is not None:
        query = query.where(func.row(Offer.created_at, Offer.id) < func.row(*before))
    return (await session.scalars(query)).all()


async def events_of(session: AsyncSession, offer_id: uuid.UUID) -> Sequence[OfferEvent]:
    """An offer's story, in the order it happened (the order it was written)."""
    rows = await session.scalars(
        select(OfferEvent).where(OfferEvent.offer_id == offer_id).order_by(OfferEvent.id)
    )
    return rows.all()


async def get_decision(session: AsyncSession, decision_id: int) -> Decision | None:
    """The decision that proposed an offer."""
    return await session.get(Decision, decision_id)


PendingPosition = tuple[datetime, uuid.UUID]  # (created_at, id)
_Query = TypeVar("_Query", bound=Select[*tuple[Any, ...]])


def _pending(
    query: _Query, after: PendingPosition | None, limit: int, program_id: str | None
) -> _Query:
    # Offers awaiting approval (of one program, if given), oldest first, after ``after``.
    query = (
        query.where(Offer.state == "pending_approval")
        .order_by(Offer.created_at, Offer.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(func.row(Offer.created_at, Offer.id) > func.row(*after))
    if program_id is not None:
        query = query.where(Offer.program_id == program_id)
    return query


async def list_pending(
    session: AsyncSession,
    *,
    after: PendingPosition | None,
    limit: int,
    program_id: str | None = None,
) -> Sequence[Offer]:
    """Offers awaiting approval (of one program, if given), oldest first (by creation, then
    id), those after ``after``."""
    return (await session.scalars(_pending(select(Offer), after, limit, program_id))).all()


async def pending_approvers(
    session: AsyncSession,
    *,
    after: PendingPosition | None,
    limit: int,
    program_id: str | None = None,
) -> Sequence[Row[uuid.UUID, datetime, str, int, bool, str, str]]:
    """As ``list_pending``, only what who may approve turns on (``id``, ``created_at``,
    ``program_id``, ``approvals_required``, ``finance_required``, ``owner``,
    ``proposed_by``): the inbox looks through many of these for a few it shows."""
    columns = select(
        Offer.id,
        Offer.created_at,
        Offer.program_id,
        Offer.approvals_required,
        Offer.finance_required,
        Offer.owner,
        Offer.proposed_by,
    )
    return (await session.execute(_pending(columns, after, limit, program_id))).all()


async def offers_by_id(
    session: AsyncSession, offer_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, Offer]:
    """These offers, by id, in one query."""
    found = await session.scalars(select(Offer).where(Offer.id.in_(list(offer_ids))))
    return {o.id: o for o in found}


async def approvals_of_offers(
    session: AsyncSession, offer_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[Approval]]:
    """The approvals of each of these offers, in the order given, in one query (an offer
    with none is absent)."""
    if not offer_ids:
        return {}
    rows = await session.scalars(
        select(Approval)
        .where(Approval.offer_id.in_(offer_ids))
        .order_by(Approval.offer_id, Approval.at, Approval.slot)
    )
    found: dict[uuid.UUID, list[Approval]] = {}
    for approval in rows:
        found.setdefault(approval.offer_id, []).append(approval)
    return found


async def decision_reasons(session: AsyncSession, decision_ids: Collection[int]) -> dict[int, str]:
    """The reason each of these decisions gave, by decision id, in one query (a decision
    forgotten by the retention sweep is absent)."""
    if not decision_ids:
        return {}
    rows = await session.execute(
        select(Decision.id, Decision.reason).where(Decision.id.in_(decision_ids))
    )
    return {decision_id: reason for decision_id, reason in rows.all()}


async def program_statuses(session: AsyncSession, program_ids: Collection[str]) -> dict[str, str]:
    """The status of each of these programs now, in one query."""
    if not program_ids:
        return {}
    rows = await session.execute(
        select(Program.id, Program.status).where(Program.id.in_(program_ids))
    )
    return {program_id: status for program_id, status in rows.all()}
