"""Planning each write (grant, redemption, reversal, adjustment, expiry) against a ``Book``
of the group's locked state: the answer it gives, or the refusal it raises. Free of I/O."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

from services.ledger.domain.amounts import BalanceLimit
from services.ledger.domain.book import Book, BookLot, TxRow, chain_of
from services.ledger.domain.lots import Allocation, allocate, total
from services.ledger.domain.reversals import (
    NotReversible,
    PostingLine,
    balanced,
    check_reversible,
    grant_reversal,
    opposite,
)
from services.ledger.domain.units import (
    SYSTEM_CHAIN,
    breakage_account,
    customer_account,
    expense_account,
    invoices_account,
    parse_account,
)
from services.ledger.domain.writes import Expiry, WriteOp
from services.ledger.rendering import lot_json, transaction_json
from services.ledger.schemas import AdjustmentIn, GrantIn, RedemptionIn, ReversalIn
from shared.errors import Forbidden, InsufficientCredit, NotFound, Unprocessable
from shared.errors import NotReversible as NotReversibleError


def _customer_head(book: Book, account_id: str, unit: str) -> str:
    head_id = customer_account(account_id, unit)
    if head_id not in book.heads:
        raise NotFound(f"Account '{account_id}' has no {unit} credit in the ledger.")
    return head_id


def expiry_problem(expires_at: datetime, now: datetime) -> str | None:
    """What is wrong with a grant's expiry at ``now``, if anything."""
    # An Instant: aware and in UTC already; only "when" is left to check.
    if expires_at <= now:
        return "must be in the future"
    return None


def _grant(book: Book, body: GrantIn, key: str | None) -> tuple[int, Any]:
    """Create a credit lot: expense (program) debited, the customer's liability credited."""
    now = book.now
    problem = expiry_problem(body.expires_at, now)
    if problem is not None:
        raise Unprocessable.for_field("/expires_at", problem)
    customer = customer_account(body.account_id, body.unit)
    expense = expense_account(body.program_id, body.unit)
    transaction_id = uuid.uuid4()
    lot = BookLot(
        id=uuid.uuid4(),
        grant_id=transaction_id,
        ledger_account_id=customer,
        customer_account_id=body.account_id,
        unit=body.unit,
        amount=body.amount,
        remaining=0,
        expires_at=body.expires_at,
        granted_at=now,
        program_id=body.program_id,
        tier=body.tier,
        offer_id=body.offer_id,
    )
    entry = book.post(
        head_id=customer,
        kind="grant",
        at=now,
        transaction_id=transaction_id,
        idempotency_key=key,
        postings=[
            PostingLine(expense, body.unit, body.amount),
            PostingLine(customer, body.unit, -body.amount),
        ],
        movements=[Allocation(lot.id, body.amount)],
        new_lot=lot,
        customer_account_id=body.account_id,
        offer_id=body.offer_id,
        program_id=body.program_id,
        tier=body.tier,
        metadata=body.metadata,
    )
    return 201, {"transaction": transaction_json(entry), "lot": lot_json(lot, now)}


def _redeem(book: Book, body: RedemptionIn, key: str | None) -> tuple[int, Any]:
    """Apply up to the requested amount to an invoice from lots that expire first."""
    now = book.now
    customer = _customer_head(book, body.account_id, body.unit)
    allocations = allocate(book.open_lots(customer), body.amount, now)
    applied = total(allocations)
    if body.require_full and applied < body.amount:
        raise InsufficientCredit(
            f"Only {applied} of {body.amount} {body.unit} can be applied; nothing was changed."
        )
    entry = None
    if applied > 0:
        entry = book.post(
            head_id=customer,
            kind="redemption",
            at=now,
            idempotency_key=key,
            postings=[
                PostingLine(customer, body.unit, applied),
                PostingLine(invoices_account(body.unit), body.unit, -applied),
            ],
            movements=[Allocation(a.lot_id, -a.amount) for a in allocations],
            customer_account_id=body.account_id,
            invoice_id=body.invoice_id,
            metadata=body.metadata,
        )
    return 200, {
        "requested": body.amount,
        "applied": applied,
        "allocations": [{"lot_id": str(a.lot_id), "amount": a.amount} for a in allocations],
        "transaction": transaction_json(entry) if entry else None,
    }


def _reverse(book: Book, body: ReversalIn, op: WriteOp, original: TxRow | None) -> tuple[int, Any]:
    """A linked opposite transaction (grants only for what is left unredeemed).

    Reversing an adjustment needs the scope that made it (admin).
    """
    if original is None:
        raise NotFound(f"No transaction {body.transaction_id}.")
    if original.kind == "adjustment" and "admin" not in op.scopes:
        raise Forbidden("Reversing an adjustment needs the admin scope, as making one does.")
    key = op.key
    lines = [PostingLine(*p) for p in original.postings]
    chain = chain_of(original)
    try:
        check_reversible(original.kind, original.id in book.reversed_ids)
        # A grant (or an adjustment that credited a customer) created a lot: what is left of
        # it is taken back. Anything else gives back what it took from lots, if anything.
        created = book.lot_created_by(original.id)
        if created is not None:
            amount = grant_reversal(created.amount, created.remaining)
            reversal = opposite(lines, (amount, created.amount))
            movements = [Allocation(created.id, -amount)]
        else:
            movements = [Allocation(lot_id, -m) for lot_id, m in original.movements]
            amount = (
                total(movements)
                if chain != SYSTEM_CHAIN
                else sum(p.amount for p in lines if p.amount > 0)
            )
            reversal = opposite(lines)
    except NotReversible as exc:
        raise NotReversibleError(
            f"Transaction {body.transaction_id} cannot be reversed: {exc}."
        ) from exc
    try:
        entry = book.post(
            head_id=chain,
            kind="reversal",
            at=book.now,
            idempotency_key=key,
            postings=reversal,
            movements=movements,
            customer_account_id=original.customer_account_id,
            offer_id=original.offer_id,
            program_id=original.program_id,
            invoice_id=original.invoice_id,
            tier=original.tier,
            reverses_id=original.id,
            metadata={"reason": body.reason},
        )
    except ValueError as exc:
        # The book refuses what would break a balance, its bound or a lot; for a reversal
        # that means things have moved on in a way it cannot undo: say so, as for any other.
        raise NotReversibleError(
            f"Transaction {body.transaction_id} cannot be reversed: {exc}."
        ) from exc
    return 200, {"reversed_amount": amount, "transaction": transaction_json(entry)}


def _adjust(book: Book, body: AdjustmentIn, key: str | None) -> tuple[int, Any]:
    """Post explicit, balanced lines; a customer's credit moves through lots as usual."""
    now = book.now
    lines = [PostingLine(p.ledger_account_id, p.unit, p.amount) for p in body.postings]
    customer: dict[str, str] | None = None
    for i, line in enumerate(lines):
        parts = parse_account(line.account)
        if parts is None or parts["unit"] != line.unit:
            raise Unprocessable.for_field(
                f"/postings/{i}/ledger_account_id", "is not a ledger account in this unit"
            )
        if parts["kind"] == "customer":
            if customer is not None and customer["id"] != line.account:
                raise Unprocessable.for_field("/postings", "may touch one customer account at most")
            customer = {**parts, "id": line.account}
    if not balanced(lines):
        raise Unprocessable.for_field("/postings", "must sum to zero in every unit")
    transaction_id = uuid.uuid4()
    # A customer's credit is a liability: a negative posting adds to the balance.
    change = -sum(line.amount for line in lines if customer and line.account == customer["id"])
    movements: list[Allocation] = []
    new_lot = None
    if customer is not None and change > 0:  # a credit: a new lot
        if body.expires_at is None or body.expires_at <= now:
            raise Unprocessable.for_field(
                "/expires_at", "a credit to a customer needs an expiry in the future"
            )
        new_lot = BookLot(
            id=uuid.uuid4(),
            grant_id=transaction_id,
            ledger_account_id=customer["id"],
            customer_account_id=customer["customer"],
            unit=customer["unit"],
            amount=change,
            remaining=0,
            expires_at=body.expires_at,
            granted_at=now,
            program_id=body.program_id,
            tier=None,
        )
        movements = [Allocation(new_lot.id, change)]
    elif customer is not None and change < 0:  # a debit: from the lots that expire first
        taken = allocate(book.open_lots(customer["id"]), -change, now)
        if total(taken) < -change:
            raise InsufficientCredit(
                f"Only {total(taken)} of {-change} can be taken; nothing was changed."
            )
        movements = [Allocation(a.lot_id, -a.amount) for a in taken]
    entry = book.post(
        head_id=customer["id"] if customer else SYSTEM_CHAIN,
        kind="adjustment",
        at=now,
        transaction_id=transaction_id,
        idempotency_key=key,
        postings=lines,
        movements=movements,
        new_lot=new_lot,
        customer_account_id=customer["customer"] if customer else None,
        program_id=body.program_id,
        metadata={**body.metadata, "reason": body.reason},
    )
    return 201, transaction_json(entry)


def _expire(book: Book, body: Expiry) -> tuple[int, Any]:
    """Move the remainder of each of an account's lots past expiry to breakage."""
    amounts: dict[str, int] = defaultdict(int)
    lots = book.due_lots(body.ledger_account_id, body.as_of)
    for lot in lots:
        amounts[lot.unit] += lot.remaining
        book.post(
            head_id=body.ledger_account_id,
            kind="expiry",
            at=book.now,
            postings=[
                PostingLine(body.ledger_account_id, lot.unit, lot.remaining),
                PostingLine(
                    breakage_account(lot.program_id or "none", lot.unit), lot.unit, -lot.remaining
                ),
            ],
            movements=[Allocation(lot.id, -lot.remaining)],
            customer_account_id=lot.customer_account_id,
            program_id=lot.program_id,
            tier=lot.tier,
            metadata={"lot_id": str(lot.id)},
        )
    return 200, {"lots": len(lots), "amounts": dict(amounts)}


def plan_write(book: Book, op: WriteOp, originals: dict[uuid.UUID, TxRow]) -> tuple[int, Any]:
    """Plan one write against the book: its status and body, or the refusal it raises."""
    body = op.body
    try:
        if isinstance(body, GrantIn):
            return _grant(book, body, op.key)
        if isinstance(body, RedemptionIn):
            return _redeem(book, body, op.key)
        if isinstance(body, ReversalIn):
            return _reverse(book, body, op, originals.get(body.transaction_id))
        if isinstance(body, AdjustmentIn):
            return _adjust(book, body, op.key)
        return _expire(book, body)
    except BalanceLimit as exc:  # reversals say so themselves, as not reversible
        pointer = "/amount" if isinstance(body, GrantIn) else "/postings"
        raise Unprocessable.for_field(pointer, str(exc)) from exc
