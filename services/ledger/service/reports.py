"""Statements and reports for finance: every total comes from the postings."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.ledger.domain.units import customer_account
from services.ledger.rendering import utc_now
from services.ledger.repository import balances as balances_repo
from services.ledger.repository import reports as repo
from services.ledger.schemas import (
    ExpiringRow,
    LiabilityOut,
    LiabilityRow,
    MonthlyOut,
    MonthlyRow,
    StatementEntry,
    StatementOut,
)
from shared.errors import NotFound, check_range
from shared.pagination import PageRequest


async def statement(
    session: AsyncSession,
    account_id: str,
    unit: str,
    start: datetime,
    end: datetime,
    page: PageRequest[tuple[datetime, int]],
) -> StatementOut:
    """Opening balance at ``start``, each movement in [start, end), closing balance at ``end``."""
    check_range(start, end)
    account = customer_account(account_id, unit)
    if not await balances_repo.customer_accounts(session, account_id, unit):
        raise NotFound(f"Account '{account_id}' has no {unit} credit in the ledger.")
    opening = -await repo.posted_before(session, account, start)
    closing = -await repo.posted_before(session, account, end)
    after, limit = page.after, page.limit
    rows = await repo.statement_rows(session, account, start, end, after, limit + 1)
    balance = opening
    if after is not None:
        balance = -await repo.posted_before(session, account, after[0], after[1])
    entries = []
    for posting_id, amount, at, tx_id, kind, offer, invoice, program, reverses in rows[:limit]:
        balance -= amount
        entries.append(
            StatementEntry(
                transaction_id=tx_id,
                kind=kind,
                effective_at=at,
                amount=-amount,
                balance_after=balance,
                offer_id=offer,
                invoice_id=invoice,
                program_id=program,
                reverses_id=reverses,
            )
        )
        last = (at, posting_id)
    cursor = page.cursor(last) if len(rows) > limit else None
    return StatementOut(
        account_id=account_id,
        unit=unit,
        start=start,
        end=end,
        opening_balance=opening,
        closing_balance=closing,
        entries=entries,
        next_cursor=cursor,
    )


async def liability_report(session: AsyncSession) -> LiabilityOut:
    """Outstanding credit by unit, program, tier and age; totals from the postings."""
    rows = [
        LiabilityRow(unit=u, program_id=p, tier=t, age=a, amount=int(n))
        for u, p, t, a, n in await repo.liability(session, utc_now())
    ]
    return LiabilityOut(rows=rows, totals=await repo.customer_postings_total(session))


async def expiring_report(session: AsyncSession) -> list[ExpiringRow]:
    """Credit expiring within 30, 60 and 90 days, by unit."""
    return [
        ExpiringRow(unit=u, within_30_days=int(a), within_60_days=int(b), within_90_days=int(c))
        for u, a, b, c in await repo.expiring(session, utc_now(), (30, 60, 90))
    ]


async def monthly_report(
    session: AsyncSession, account_kind: str, by_program: bool, program_id: str | None = None
) -> MonthlyOut:
    """Breakage or grants (by program) or redemptions by month, from the postings on those
    accounts; of one program when ``program_id`` is given."""
    if account_kind == "invoices" and program_id is not None:
        found = await repo.redeemed_from_program(session, program_id)
        return _monthly([(month, unit, program_id, amount) for month, unit, amount in found])
    sign = 1 if account_kind == "expense" else -1
    found = await repo.monthly_by_kind(
        session, account_kind, by_program=by_program, program_id=program_id, sign=sign
    )
    return _monthly([(row[0], row[1], row[2] if by_program else None, row[-1]) for row in found])


def _monthly(found: Sequence[tuple[str, str, str | None, int]]) -> MonthlyOut:
    rows = []
    totals: dict[str, int] = defaultdict(int)
    for month, unit, program, amount in found:
        rows.append(MonthlyRow(month=month, unit=unit, program_id=program, amount=int(amount)))
        totals[unit] += int(amount)
    return MonthlyOut(rows=rows, totals=dict(totals))
