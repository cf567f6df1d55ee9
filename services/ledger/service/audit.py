"""The audit: every chain, hash, posting sum and derived value recomputed."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.ledger.domain.book import content_of
from services.ledger.domain.hashing import GENESIS, chain_hash
from services.ledger.domain.lots import Allocation
from services.ledger.domain.reversals import PostingLine, balanced
from services.ledger.repository import audit as repo
from services.ledger.repository import transactions as transactions_repo
from services.ledger.schemas import AuditBreak, AuditOut
from services.ledger.service.transactions import transaction_fields


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
        postings = await transactions_repo.postings_of(session, [t.id for t in txs])
        movements = await transactions_repo.movements_of(session, [t.id for t in txs])
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
            elif (
                chain_hash(tx.prev_hash, content_of(transaction_fields(tx), lines, moves))
                != tx.hash
            ):
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
