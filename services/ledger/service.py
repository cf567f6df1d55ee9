"""The ledger's reads: balances, transactions, statements, reports and the audit.

Writes live in ``writer``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.ledger import repository as repo
from services.ledger.domain.book import Entry, content_of
from services.ledger.domain.hashing import GENESIS, chain_hash
from services.ledger.domain.lots import Allocation
from services.ledger.domain.reversals import PostingLine, balanced
from services.ledger.domain.units import customer_account
from services.ledger.models import LedgerTransaction
from services.ledger.schemas import (
    AuditBreak,
    AuditOut,
    BalanceOut,
    ExpiringRow,
    LiabilityOut,
    LiabilityRow,
    MonthlyOut,
    MonthlyRow,
    StatementEntry,
    StatementOut,
    TransactionOut,
)
from services.ledger.writer import transaction_json, utc_now
from shared.errors import FieldError, NotFound, Unprocessable
from shared.pagination import PageRequest


def _fields(tx: LedgerTransaction) -> dict[str, Any]:
    return {
        "id": tx.id,
        "kind": tx.kind,
        "idempotency_key": tx.idempotency_key,
        "effective_at": tx.effective_at,
        "customer_account_id": tx.customer_account_id,
        "offer_id": tx.offer_id,
        "program_id": tx.program_id,
        "invoice_id": tx.invoice_id,
        "tier": tx.tier,
        "reverses_id": tx.reverses_id,
        "metadata": tx.metadata_ or {},
        "chain_key": tx.chain_key,
        "chain_seq": tx.chain_seq,
        "prev_hash": tx.prev_hash,
        "hash": tx.hash,
    }


# --- reading ------------------------------------------------------------------------------


async def balances(
    session: AsyncSession, account_id: str, unit: str | None, as_of: datetime | None
) -> list[BalanceOut]:
    """A customer's credit per unit, now (stored) or as of a past time (from postings)."""
    accounts = await repo.customer_accounts(session, account_id, unit)
    if not accounts:
        what = f" in {unit}" if unit else ""
        raise NotFound(f"Account '{account_id}' has no credit{what} in the ledger.")
    out = []
    for acct in accounts:
        amount = acct.balance or 0
        if as_of is not None:
            amount = -await repo.posted_sum(session, acct.id, as_of)
        out.append(BalanceOut(account_id=account_id, unit=acct.unit, balance=amount, as_of=as_of))
    return out


async def transactions_out(
    session: AsyncSession, txs: Sequence[LedgerTransaction]
) -> list[TransactionOut]:
    """Stored transactions with their postings and movements (two queries for all)."""
    ids = [tx.id for tx in txs]
    postings = await repo.postings_of(session, ids)
    movements = await repo.movements_of(session, ids)
    return [
        TransactionOut.model_validate(
            transaction_json(
                Entry(
                    _fields(tx),
                    [PostingLine(p.ledger_account_id, p.unit, p.amount) for p in postings[tx.id]],
                    [Allocation(m.lot_id, m.amount) for m in movements[tx.id]],
                )
            )
        )
        for tx in txs
    ]


async def verify(session: AsyncSession, page: int = 1000) -> AuditOut:
    """Walk every chain, recompute every hash and posting sum, then the derived state: each
    chain head against its chain's last transaction, balances and lot remainders."""
    checked, chains = 0, 0
    previous: tuple[str, int, str] | None = None  # chain, seq, hash of the last transaction
    after: tuple[str, int] | None = None
    while True:
        txs = await repo.chain_page(session, after, page)
        if not txs:
            break
        postings = await repo.postings_of(session, [t.id for t in txs])
        movements = await repo.movements_of(session, [t.id for t in txs])
        for tx in txs:
            lines = [PostingLine(p.ledger_account_id, p.unit, p.amount) for p in postings[tx.id]]
            moves = [Allocation(m.lot_id, m.amount) for m in movements[tx.id]]
            expected_prev, expected_seq = GENESIS, 1
            if previous is not None and previous[0] == tx.chain_key:
                expected_prev, expected_seq = previous[2], previous[1] + 1
            else:
                chains += 1
            reason = None
            if tx.chain_seq != expected_seq or tx.prev_hash != expected_prev:
                reason = "the chain is broken before this transaction"
            elif not balanced(lines):
                reason = "its postings do not sum to zero"
            elif chain_hash(tx.prev_hash, content_of(_fields(tx), lines, moves)) != tx.hash:
                reason = "its content does not match its hash"
            if reason is not None:
                return AuditOut(
                    ok=False,
                    transactions_checked=checked,
                    chains=chains,
                    first_break=AuditBreak(
                        transaction_id=tx.id, chain_key=tx.chain_key, reason=reason
                    ),
                )
            checked += 1
            previous = (tx.chain_key, tx.chain_seq, tx.hash)
        after = (txs[-1].chain_key, txs[-1].chain_seq)
    derived = await _derived_break(session)
    return AuditOut(
        ok=derived is None, transactions_checked=checked, chains=chains, first_break=derived
    )


async def _derived_break(session: AsyncSession) -> AuditBreak | None:
    for head_id, head_seq, last_seq, last_hash in await repo.heads_vs_chains(session):
        last = f"ends at {last_seq} ({last_hash})" if last_seq else "has no transactions"
        return AuditBreak(
            transaction_id=None,
            chain_key=head_id,
            reason=f"its chain head is at {head_seq} but its chain {last}: transactions are"
            " missing from its end, or the head was changed",
        )
    for account_id, stored, posted in await repo.customer_balances_vs_postings(session):
        return AuditBreak(
            transaction_id=None,
            chain_key=account_id,
            reason=f"balance {stored} differs from its postings ({-(posted or 0)})",
        )
    for lot_id, grant_id, stored, moved in await repo.lots_vs_movements(session):
        return AuditBreak(
            transaction_id=grant_id,
            chain_key=None,
            reason=f"lot {lot_id} holds {stored}, its movements say {moved or 0}",
        )
    return None


async def statement(
    session: AsyncSession,
    account_id: str,
    unit: str,
    start: datetime,
    end: datetime,
    page: PageRequest[tuple[datetime, int]],
) -> StatementOut:
    """Opening balance at ``start``, each movement in [start, end), closing balance at ``end``."""
    if end <= start:
        raise Unprocessable(
            "The period is empty.", errors=[FieldError(detail="must be after from", parameter="to")]
        )
    account = customer_account(account_id, unit)
    if not await repo.customer_accounts(session, account_id, unit):
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


async def monthly_report(session: AsyncSession, account_kind: str, by_program: bool) -> MonthlyOut:
    """Breakage (by program) or redemptions by month, from the postings on those accounts."""
    rows = []
    totals: dict[str, int] = defaultdict(int)
    for row in await repo.monthly_by_kind(session, account_kind, by_program=by_program):
        month, unit, *program, amount = row
        rows.append(
            MonthlyRow(
                month=month,
                unit=unit,
                program_id=program[0] if program else None,
                amount=int(amount),
            )
        )
        totals[unit] += int(amount)
    return MonthlyOut(rows=rows, totals=dict(totals))
