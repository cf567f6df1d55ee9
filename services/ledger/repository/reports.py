"""Statements and reports (ORM session; read-only)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.ledger.domain.liability import AGE_BUCKETS, OLDEST
from services.ledger.models import (
    CreditLot,
    LedgerAccount,
    LedgerTransaction,
    LotMovement,
    Posting,
)


async def statement_rows(
    session: AsyncSession,
    ledger_account_id: str,
    start: datetime,
    end: datetime,
    after: tuple[datetime, int] | None,
    limit: int,
) -> Sequence[Any]:
    """An account's postings in [start, end), in (time, id) order, with their transactions."""
    query = (
        select(
            Posting.id,
            Posting.amount,
            Posting.effective_at,
            LedgerTransaction.id,
            LedgerTransaction.kind,
            LedgerTransaction.offer_id,
            LedgerTransaction.invoice_id,
            LedgerTransaction.program_id,
            LedgerTransaction.reverses_id,
        )
        .join(LedgerTransaction, LedgerTransaction.id == Posting.transaction_id)
        .where(
            Posting.ledger_account_id == ledger_account_id,
            Posting.effective_at >= start,
            Posting.effective_at < end,
        )
        .order_by(Posting.effective_at, Posting.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(func.row(Posting.effective_at, Posting.id) > func.row(*after))
    return (await session.execute(query)).all()


async def posted_before(
    session: AsyncSession, ledger_account_id: str, at: datetime, posting_id: int | None = None
) -> int:
    """The sum of an account's postings before ``at`` (or up to a posting at that time)."""
    position = Posting.effective_at < at
    if posting_id is not None:
        position = func.row(Posting.effective_at, Posting.id) <= func.row(at, posting_id)
    total = await session.scalar(
        select(func.coalesce(func.sum(Posting.amount), 0)).where(
            Posting.ledger_account_id == ledger_account_id, position
        )
    )
    return int(total or 0)


async def liability(session: AsyncSession, now: datetime) -> Sequence[Any]:
    """Unredeemed, unexpired-or-unswept credit by unit, program, tier and age bucket."""
    age_days = func.extract("day", now - CreditLot.granted_at)
    # domain.liability.age_bucket, in SQL so the report groups in the database.
    bucket = case(*((age_days < bound, name) for bound, name in AGE_BUCKETS), else_=OLDEST)
    return (
        await session.execute(
            select(
                CreditLot.unit,
                CreditLot.program_id,
                CreditLot.tier,
                bucket,
                func.sum(CreditLot.remaining),
            )
            .where(CreditLot.remaining > 0)
            .group_by(CreditLot.unit, CreditLot.program_id, CreditLot.tier, bucket)
        )
    ).all()


async def customer_postings_total(session: AsyncSession) -> dict[str, int]:
    """Minus the sum of every customer account's postings, by unit: the whole liability."""
    rows = await session.execute(
        select(Posting.unit, -func.sum(Posting.amount))
        .join(LedgerAccount, LedgerAccount.id == Posting.ledger_account_id)
        .where(LedgerAccount.kind == "customer")
        .group_by(Posting.unit)
    )
    return {unit: int(total) for unit, total in rows.all()}


async def expiring(session: AsyncSession, now: datetime, days: Sequence[int]) -> Sequence[Any]:
    """Credit left in lots expiring within each window, by unit."""
    columns = [
        func.coalesce(
            func.sum(CreditLot.remaining).filter(CreditLot.expires_at <= now + timedelta(days=d)),
            0,
        )
        for d in days
    ]
    return (
        await session.execute(
            select(CreditLot.unit, *columns)
            .where(CreditLot.remaining > 0, CreditLot.expires_at > now)
            .group_by(CreditLot.unit)
        )
    ).all()


def _month(at: Any) -> Any:
    return func.to_char(func.date_trunc("month", at), "YYYY-MM")


async def monthly_by_kind(
    session: AsyncSession,
    account_kind: str,
    *,
    by_program: bool,
    program_id: str | None = None,
    sign: int = -1,
) -> Sequence[Any]:
    """``sign`` times the postings on one kind of system account (minus for the credit sides:
    breakage, invoices; plus for expense, which grants debit), by month, unit (and program),
    of one program's accounts when ``program_id`` is given."""
    month = _month(Posting.effective_at)
    groups = [month, Posting.unit]
    if by_program:
        groups.append(LedgerAccount.program_id)
    query = (
        select(*groups, sign * func.sum(Posting.amount))
        .join(LedgerAccount, LedgerAccount.id == Posting.ledger_account_id)
        .where(LedgerAccount.kind == account_kind)
        .group_by(*groups)
        .order_by(*groups)
    )
    if program_id is not None:
        query = query.where(LedgerAccount.program_id == program_id)
    return (await session.execute(query)).all()


async def redeemed_from_program(session: AsyncSession, program_id: str) -> Sequence[Any]:
    """Credit of one program's lots applied to invoices, net of reversed redemptions, by
    month and unit. The invoices account is one per unit, not per program, so this counts
    the lot movements of redemptions (and of their reversals) from the program's lots."""
    reversed_ = aliased(LedgerTransaction)
    month = _month(LedgerTransaction.effective_at)
    redemption = (LedgerTransaction.kind == "redemption") | (
        (LedgerTransaction.kind == "reversal") & (reversed_.kind == "redemption")
    )
    return (
        await session.execute(
            select(month, CreditLot.unit, -func.sum(LotMovement.amount))
            .join(CreditLot, CreditLot.id == LotMovement.lot_id)
            .join(LedgerTransaction, LedgerTransaction.id == LotMovement.transaction_id)
            .outerjoin(reversed_, reversed_.id == LedgerTransaction.reverses_id)
            .where(CreditLot.program_id == program_id, redemption)
            .group_by(month, CreditLot.unit)
            .order_by(month, CreditLot.unit)
        )
    ).all()
