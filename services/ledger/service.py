"""The ledger's use cases: every money movement is a balanced, chained, append-only transaction."""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ledger import repository as repo
from services.ledger.domain.hashing import GENESIS, ChainedContent, chain_hash
from services.ledger.domain.lots import Allocation, Lot, allocate, total
from services.ledger.domain.reversals import (
    NotReversible,
    PostingLine,
    balanced,
    check_reversible,
    grant_reversal,
    opposite,
)
from services.ledger.domain.units import (
    breakage_account,
    customer_account,
    expense_account,
    invoices_account,
)
from services.ledger.models import CreditLot, LedgerAccount, LedgerTransaction, LotMovement, Posting
from services.ledger.schemas import (
    AuditBreak,
    AuditOut,
    BalanceOut,
    ExpirationRunOut,
    GrantIn,
    GrantOut,
    LotMovementOut,
    LotOut,
    PostingOut,
    RedemptionIn,
    RedemptionOut,
    ReversalOut,
    TransactionOut,
)
from shared.db import unit_of_work
from shared.errors import (
    Conflict,
    FieldError,
    NotFound,
    TenureError,
    Unprocessable,
    problem_body,
)

SYSTEM_CHAIN = "system"
Work = Callable[[AsyncSession], Awaitable[tuple[int, Any]]]


def utc_now() -> datetime:
    """Now, in UTC (PostgreSQL keeps microseconds, as does this)."""
    return datetime.now(UTC)


# --- idempotency (Stripe's semantics) -----------------------------------------------------


def fingerprint(operation: str, body: Any) -> str:
    """What makes two requests 'the same request' under one key."""
    doc = orjson.dumps({"operation": operation, "body": body}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(doc).hexdigest()


async def run_idempotent(
    factory: async_sessionmaker[AsyncSession],
    *,
    principal: str,
    key: str,
    operation: str,
    body: Any,
    lock_seconds: float,
    instance: str,
    work: Work,
) -> tuple[int, Any]:
    """Run ``work`` once per (caller, key); repeat the stored response to every retry.

    The key is claimed in a transaction of its own, so a concurrent request with the same
    key sees it in flight (409) instead of waiting; the work and its stored response commit
    together. A refusal the work raises (404, 409) is stored like a success; an unexpected
    failure releases the key so a retry can run the work.
    """
    mark = fingerprint(operation, body)
    now = utc_now()
    async with unit_of_work(factory) as session:
        if not await repo.claim_key(
            session, principal, key, mark, now + timedelta(seconds=lock_seconds)
        ):
            row = await repo.lock_key(session, principal, key)
            if row is None:
                raise Conflict("The Idempotency-Key is being released; retry the request.")
            if row.fingerprint != mark:
                raise Unprocessable(
                    "This Idempotency-Key was used with a different request.",
                    errors=[
                        FieldError(
                            detail="reused with other parameters", parameter="Idempotency-Key"
                        )
                    ],
                )
            if row.response_status is not None:
                return row.response_status, row.response_body
            if row.locked_until is not None and row.locked_until > now:
                raise Conflict("A request with this Idempotency-Key is still in progress.")
            row.locked_until = now + timedelta(seconds=lock_seconds)  # its first run died
    try:
        async with unit_of_work(factory) as session:
            status, result = await work(session)
            await repo.finish_key(session, principal, key, status, result)
        return status, result
    except TenureError as exc:
        async with unit_of_work(factory) as session:
            await repo.finish_key(
                session, principal, key, exc.status_code, problem_body(exc, instance)
            )
        raise
    except BaseException:
        async with unit_of_work(factory) as session:
            await repo.release_key(session, principal, key)
        raise


# --- writing transactions -----------------------------------------------------------------


def _content(
    tx: LedgerTransaction, postings: Sequence[PostingLine], movements: Sequence[Allocation]
) -> ChainedContent:
    return ChainedContent(
        id=str(tx.id),
        kind=tx.kind,
        effective_at=tx.effective_at,
        chain_key=tx.chain_key,
        chain_seq=tx.chain_seq,
        references={
            "account_id": tx.customer_account_id,
            "offer_id": tx.offer_id,
            "program_id": tx.program_id,
            "invoice_id": tx.invoice_id,
            "tier": tx.tier,
            "reverses_id": str(tx.reverses_id) if tx.reverses_id else None,
            "metadata": tx.metadata_ or None,
        },
        postings=[(p.account, p.unit, p.amount) for p in postings],
        lot_movements=[(str(m.lot_id), m.amount) for m in movements],
    )


async def _write(
    session: AsyncSession,
    *,
    owner: LedgerAccount,
    kind: str,
    postings: list[PostingLine],
    movements: Sequence[Allocation] = (),
    new_lots: Sequence[CreditLot] = (),
    transaction_id: uuid.UUID | None = None,
    idempotency_key: str | None = None,
    **references: Any,
) -> TransactionOut:
    """Link a balanced transaction into its owner's chain and stage its rows."""
    if not balanced(postings):
        raise ValueError("postings must sum to zero in every unit")
    tx = LedgerTransaction(
        id=transaction_id or uuid.uuid4(),
        kind=kind,
        idempotency_key=idempotency_key,
        effective_at=utc_now(),
        chain_key=owner.id,
        chain_seq=owner.chain_seq + 1,
        prev_hash=owner.chain_hash or GENESIS,
        metadata_=references.pop("metadata", None) or {},
        **references,
    )
    tx.hash = chain_hash(tx.prev_hash, _content(tx, postings, movements))
    owner.chain_seq, owner.chain_hash = tx.chain_seq, tx.hash
    await repo.insert_transaction(
        session,
        tx,
        [
            Posting(
                transaction_id=tx.id,
                ledger_account_id=p.account,
                unit=p.unit,
                amount=p.amount,
                effective_at=tx.effective_at,
            )
            for p in postings
        ],
        new_lots,
        [LotMovement(lot_id=m.lot_id, transaction_id=tx.id, amount=m.amount) for m in movements],
    )
    return _tx_out(tx, postings, movements)


def _tx_out(
    tx: LedgerTransaction, postings: Sequence[PostingLine], movements: Sequence[Allocation]
) -> TransactionOut:
    return TransactionOut(
        id=tx.id,
        kind=tx.kind,
        effective_at=tx.effective_at,
        account_id=tx.customer_account_id,
        offer_id=tx.offer_id,
        program_id=tx.program_id,
        invoice_id=tx.invoice_id,
        tier=tx.tier,
        reverses_id=tx.reverses_id,
        metadata=tx.metadata_ or {},
        postings=[
            PostingOut(ledger_account_id=p.account, unit=p.unit, amount=p.amount) for p in postings
        ],
        lot_movements=[LotMovementOut(lot_id=m.lot_id, amount=m.amount) for m in movements],
        chain_key=tx.chain_key,
        chain_seq=tx.chain_seq,
        prev_hash=tx.prev_hash,
        hash=tx.hash,
    )


def lot_out(lot: CreditLot, now: datetime) -> LotOut:
    """A lot as callers see it, with its status now."""
    status = "expired" if lot.expires_at <= now else ("active" if lot.remaining > 0 else "used")
    return LotOut(
        id=lot.id,
        grant_id=lot.grant_id,
        account_id=lot.customer_account_id,
        unit=lot.unit,
        amount=lot.amount,
        remaining=lot.remaining,
        expires_at=lot.expires_at,
        granted_at=lot.granted_at,
        program_id=lot.program_id,
        tier=lot.tier,
        status=status,
    )


async def _customer(session: AsyncSession, account_id: str, unit: str) -> LedgerAccount:
    owner = await repo.lock_account(session, customer_account(account_id, unit))
    if owner is None:
        raise NotFound(f"Account '{account_id}' has no {unit} credit in the ledger.")
    return owner


# --- grants, redemptions, reversals, expiry ------------------------------------------------


async def grant(session: AsyncSession, body: GrantIn, key: str) -> tuple[int, Any]:
    """Create a credit lot: expense (program) debited, the customer's liability credited."""
    now = utc_now()
    if body.expires_at.tzinfo is None or body.expires_at <= now:
        raise Unprocessable.for_field("/expires_at", "must be a time zone-aware time in the future")
    customer = customer_account(body.account_id, body.unit)
    expense = expense_account(body.program_id, body.unit)
    await repo.ensure_accounts(
        session,
        [
            {
                "id": customer,
                "kind": "customer",
                "unit": body.unit,
                "customer_account_id": body.account_id,
                "balance": 0,
            },
            {"id": expense, "kind": "expense", "unit": body.unit, "program_id": body.program_id},
        ],
    )
    owner = await _customer(session, body.account_id, body.unit)
    tx_id = uuid.uuid4()
    lot = CreditLot(
        id=uuid.uuid4(),
        grant_id=tx_id,
        ledger_account_id=customer,
        customer_account_id=body.account_id,
        unit=body.unit,
        amount=body.amount,
        remaining=body.amount,
        expires_at=body.expires_at.astimezone(UTC),
        granted_at=now,
        program_id=body.program_id,
        tier=body.tier,
    )
    out = await _write(
        session,
        owner=owner,
        kind="grant",
        transaction_id=tx_id,
        idempotency_key=key,
        postings=[
            PostingLine(expense, body.unit, body.amount),
            PostingLine(customer, body.unit, -body.amount),
        ],
        movements=[Allocation(lot.id, body.amount)],
        new_lots=[lot],
        customer_account_id=body.account_id,
        offer_id=body.offer_id,
        program_id=body.program_id,
        tier=body.tier,
        metadata=body.metadata,
    )
    assert owner.balance is not None
    owner.balance += body.amount
    await session.flush()
    return 201, GrantOut(transaction=out, lot=lot_out(lot, now)).model_dump(mode="json")


async def redeem(session: AsyncSession, body: RedemptionIn, key: str) -> tuple[int, Any]:
    """Apply up to the requested amount to an invoice from lots that expire first."""
    now = utc_now()
    owner = await _customer(session, body.account_id, body.unit)
    lots = await repo.lock_open_lots(session, owner.id)
    allocations = allocate(
        [Lot(lot.id, lot.remaining, lot.expires_at, lot.granted_at) for lot in lots],
        body.amount,
        now,
    )
    applied = total(allocations)
    if body.require_full and applied < body.amount:
        raise Conflict(
            f"Only {applied} of {body.amount} {body.unit} can be applied; nothing was changed."
        )
    if applied == 0:
        result = RedemptionOut(requested=body.amount, applied=0, allocations=[], transaction=None)
        return 200, result.model_dump(mode="json")
    by_id = {lot.id: lot for lot in lots}
    for a in allocations:
        by_id[a.lot_id].remaining -= a.amount
    assert owner.balance is not None
    owner.balance -= applied
    invoices = invoices_account(body.unit)
    await repo.ensure_accounts(session, [{"id": invoices, "kind": "invoices", "unit": body.unit}])
    out = await _write(
        session,
        owner=owner,
        kind="redemption",
        idempotency_key=key,
        postings=[
            PostingLine(owner.id, body.unit, applied),
            PostingLine(invoices, body.unit, -applied),
        ],
        movements=[Allocation(a.lot_id, -a.amount) for a in allocations],
        customer_account_id=body.account_id,
        invoice_id=body.invoice_id,
        metadata=body.metadata,
    )
    await session.flush()
    result = RedemptionOut(
        requested=body.amount,
        applied=applied,
        allocations=[LotMovementOut(lot_id=a.lot_id, amount=a.amount) for a in allocations],
        transaction=out,
    )
    return 200, result.model_dump(mode="json")


async def reverse(
    session: AsyncSession, transaction_id: uuid.UUID, reason: str, key: str
) -> tuple[int, Any]:
    """A linked opposite transaction (grants only for what is left unredeemed)."""
    original = await repo.get_transaction(session, transaction_id)
    if original is None:
        raise NotFound(f"No transaction {transaction_id}.")
    postings = (await repo.postings_of(session, [original.id]))[original.id]
    customer_lines = [p for p in postings if p.ledger_account_id.startswith("customer:")]
    owner = (
        await repo.lock_account(session, customer_lines[0].ledger_account_id)
        if customer_lines
        else None
    )
    if owner is None:
        raise Conflict("Only transactions on a customer's credit can be reversed here.")
    try:
        check_reversible(original.kind, await repo.is_reversed(session, original.id))
    except NotReversible as exc:
        raise Conflict(f"Transaction {transaction_id} cannot be reversed: {exc}.") from exc
    lines = [PostingLine(p.ledger_account_id, p.unit, p.amount) for p in postings]
    if original.kind == "grant":
        lot = await repo.lot_of_grant(session, original.id)
        assert lot is not None
        try:
            amount = grant_reversal(lot.amount, lot.remaining)
        except NotReversible as exc:
            raise Conflict(f"Transaction {transaction_id} cannot be reversed: {exc}.") from exc
        reversal = opposite(lines, (amount, lot.amount))
        movements = [Allocation(lot.id, -amount)]
        lot.remaining -= amount
        change = -amount
    elif original.kind == "redemption":
        taken = (await repo.movements_of(session, [original.id]))[original.id]
        lots = await repo.lock_lots(session, [m.lot_id for m in taken])
        movements = [Allocation(m.lot_id, -m.amount) for m in taken]
        for m in movements:
            lots[m.lot_id].remaining += m.amount
        amount = total(movements)
        reversal = opposite(lines)
        change = amount
    else:
        raise Conflict("Reversing adjustments is not available yet.")
    assert owner.balance is not None
    owner.balance += change
    out = await _write(
        session,
        owner=owner,
        kind="reversal",
        idempotency_key=key,
        postings=reversal,
        movements=movements,
        customer_account_id=original.customer_account_id,
        offer_id=original.offer_id,
        program_id=original.program_id,
        invoice_id=original.invoice_id,
        tier=original.tier,
        reverses_id=original.id,
        metadata={"reason": reason},
    )
    await session.flush()
    return 200, ReversalOut(reversed_amount=amount, transaction=out).model_dump(mode="json")


async def expire_due(
    factory: async_sessionmaker[AsyncSession], as_of: datetime, batch: int = 200
) -> ExpirationRunOut:
    """Move the remainder of every lot past expiry to breakage, once (one transaction each).

    Each customer account is swept in a transaction of its own; running again finds nothing.
    """
    lots_expired = 0
    amounts: dict[str, int] = defaultdict(int)
    while True:
        async with unit_of_work(factory) as session:
            accounts = await repo.due_lot_accounts(session, as_of, batch)
        if not accounts:
            break
        for ledger_account_id in accounts:
            async with unit_of_work(factory) as session:
                owner = await repo.lock_account(session, ledger_account_id)
                assert owner is not None
                assert owner.balance is not None
                for lot in await repo.lock_due_lots(session, ledger_account_id, as_of):
                    left, lot.remaining = lot.remaining, 0
                    owner.balance -= left
                    breakage = breakage_account(lot.program_id or "none", lot.unit)
                    await repo.ensure_accounts(
                        session,
                        [
                            {
                                "id": breakage,
                                "kind": "breakage",
                                "unit": lot.unit,
                                "program_id": lot.program_id,
                            },
                        ],
                    )
                    await _write(
                        session,
                        owner=owner,
                        kind="expiry",
                        postings=[
                            PostingLine(owner.id, lot.unit, left),
                            PostingLine(breakage, lot.unit, -left),
                        ],
                        movements=[Allocation(lot.id, -left)],
                        customer_account_id=lot.customer_account_id,
                        program_id=lot.program_id,
                        tier=lot.tier,
                        metadata={"lot_id": str(lot.id)},
                    )
                    lots_expired += 1
                    amounts[lot.unit] += left
    return ExpirationRunOut(as_of=as_of, expired_lots=lots_expired, amounts=dict(amounts))


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


async def transaction_out(session: AsyncSession, tx: LedgerTransaction) -> TransactionOut:
    """A stored transaction with its postings and movements."""
    postings = (await repo.postings_of(session, [tx.id]))[tx.id]
    movements = (await repo.movements_of(session, [tx.id]))[tx.id]
    return _tx_out(
        tx,
        [PostingLine(p.ledger_account_id, p.unit, p.amount) for p in postings],
        [Allocation(m.lot_id, m.amount) for m in movements],
    )


async def verify(session: AsyncSession, page: int = 1000) -> AuditOut:
    """Walk every chain, recompute every hash and posting sum, then the derived state."""
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
            elif chain_hash(tx.prev_hash, _content(tx, lines, moves)) != tx.hash:
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
