"""What the audit compares: chains page by page, and derived state against its source."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from services.ledger.models import CreditLot, LedgerAccount, LedgerTransaction, LotMovement, Posting


async def chain_page(
    session: AsyncSession, after: tuple[str, int] | None, limit: int
) -> Sequence[LedgerTransaction]:
    """Transactions in (chain, position) order, a page at a time."""
    query = (
        select(LedgerTransaction)
        .order_by(LedgerTransaction.chain_key, LedgerTransaction.chain_seq)
        .limit(limit)
    )
    if after is not None:
        query = query.where(
            func.row(LedgerTransaction.chain_key, LedgerTransaction.chain_seq) > func.row(*after)
        )
    return (await session.scalars(query)).all()


async def heads_vs_chains(session: AsyncSession) -> Sequence[Any]:
    """Chain heads (position and hash kept on a ledger account) that differ from their
    chain's last transaction: a chain whose tail was cut off, or a head moved by hand.

    Accounts that own no chain hold position 0 and no hash, as a chain with no transactions.
    """
    last = (
        select(LedgerTransaction.chain_seq, LedgerTransaction.hash)
        .where(LedgerTransaction.chain_key == LedgerAccount.id)
        .order_by(LedgerTransaction.chain_seq.desc())
        .limit(1)
        .lateral("last")
    )
    return (
        await session.execute(
            select(LedgerAccount.id, LedgerAccount.chain_seq, last.c.chain_seq, last.c.hash)
            .outerjoin(last, true())
            .where(
                or_(
                    LedgerAccount.chain_seq != func.coalesce(last.c.chain_seq, 0),
                    LedgerAccount.chain_hash.is_distinct_from(last.c.hash),
                )
            )
            .order_by(LedgerAccount.id)
            .limit(1)
        )
    ).all()


async def customer_balances_vs_postings(session: AsyncSession) -> Sequence[Any]:
    """Customer accounts whose stored balance differs from minus the sum of their postings."""
    posted = (
        select(Posting.ledger_account_id, func.sum(Posting.amount).label("total"))
        .group_by(Posting.ledger_account_id)
        .subquery()
    )
    return (
        await session.execute(
            select(LedgerAccount.id, LedgerAccount.balance, posted.c.total)
            .outerjoin(posted, posted.c.ledger_account_id == LedgerAccount.id)
            .where(
                LedgerAccount.kind == "customer",
                LedgerAccount.balance != -func.coalesce(posted.c.total, 0),
            )
            .limit(1)
        )
    ).all()


async def lots_vs_movements(session: AsyncSession) -> Sequence[Any]:
    """Lots whose stored remainder differs from the sum of their movements."""
    moved = (
        select(LotMovement.lot_id, func.sum(LotMovement.amount).label("total"))
        .group_by(LotMovement.lot_id)
        .subquery()
    )
    return (
        await session.execute(
            select(CreditLot.id, CreditLot.grant_id, CreditLot.remaining, moved.c.total)
            .outerjoin(moved, moved.c.lot_id == CreditLot.id)
            .where(CreditLot.remaining != func.coalesce(moved.c.total, 0))
            .limit(1)
        )
    ).all()
