"""The ledger's use cases: every money movement is a balanced, chained, append-only transaction."""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError
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
    SYSTEM_CHAIN,
    breakage_account,
    customer_account,
    expense_account,
    invoices_account,
    parse_account,
)
from services.ledger.models import CreditLot, LedgerTransaction
from services.ledger.schemas import (
    BATCH_ITEM,
    AdjustmentIn,
    AuditBreak,
    AuditOut,
    BalanceOut,
    BatchGrant,
    BatchItem,
    BatchItemResult,
    BatchOut,
    BatchRedemption,
    ExpirationRunOut,
    ExpiringRow,
    GrantIn,
    GrantOut,
    LiabilityOut,
    LiabilityRow,
    LotMovementOut,
    LotOut,
    MonthlyOut,
    MonthlyRow,
    PostingOut,
    RedemptionIn,
    RedemptionOut,
    ReversalOut,
    StatementEntry,
    StatementOut,
    TransactionOut,
)
from shared.db import driver_connection, unit_of_work
from shared.errors import (
    Conflict,
    FieldError,
    NotFound,
    TenureError,
    Unprocessable,
    problem_body,
    validation_field_errors,
)
from shared.pagination import encode_cursor

Work = Callable[[repo.Conn], Awaitable[tuple[int, Any]]]


def utc_now() -> datetime:
    """Now, in UTC (PostgreSQL keeps microseconds, as does this)."""
    return datetime.now(UTC)


# --- idempotency (Stripe's semantics) -----------------------------------------------------


def fingerprint(operation: str, body: Any) -> str:
    """What makes two requests 'the same request' under one key."""
    doc = orjson.dumps({"operation": operation, "body": body}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(doc).hexdigest()


@dataclass(frozen=True)
class Outcome:
    """What one idempotent request answered, and the refusal to raise, if it was one."""

    status: int
    body: Any
    refusal: TenureError | None = None


async def idempotent_on(
    conn: repo.Conn,
    *,
    principal: str,
    key: str,
    mark: str,
    instance: str,
    work: Work,
) -> Outcome:
    """Run ``work`` once per (caller, key) inside the caller's transaction.

    An advisory lock on the key makes a concurrent request with the same key a 409 (in
    flight) rather than a second run. The work runs in a savepoint: a refusal it raises
    (404, 409) undoes it and is kept under the key like a success; the response is stored
    with the work, so a crash before commit leaves neither.
    """
    if not await repo.try_lock_key(conn, principal, key):
        raise Conflict("A request with this Idempotency-Key is still in progress.")
    stored = await repo.stored_response(conn, principal, key)
    if stored is not None:
        if stored.fingerprint != mark:
            raise Unprocessable(
                "This Idempotency-Key was used with a different request.",
                errors=[
                    FieldError(detail="reused with other parameters", parameter="Idempotency-Key")
                ],
            )
        return Outcome(stored.status, stored.body)
    refusal: TenureError | None = None
    try:
        async with conn.transaction():  # a savepoint
            status, result = await work(conn)
    except TenureError as exc:
        refusal = exc
        status, result = exc.status_code, problem_body(exc, instance)
    await repo.store_response(conn, principal, key, mark, status, result)
    return Outcome(status, result, refusal)


async def run_idempotent(
    factory: async_sessionmaker[AsyncSession],
    *,
    principal: str,
    key: str,
    operation: str,
    body: Any,
    instance: str,
    work: Work,
) -> tuple[int, Any]:
    """One request, in a transaction of its own; its refusal is raised once committed."""
    async with unit_of_work(factory) as session:
        outcome = await idempotent_on(
            await driver_connection(session),
            principal=principal,
            key=key,
            mark=fingerprint(operation, body),
            instance=instance,
            work=work,
        )
    if outcome.refusal is not None:
        raise outcome.refusal
    return outcome.status, outcome.body


async def run_batch(
    factory: async_sessionmaker[AsyncSession],
    *,
    principal: str,
    instance: str,
    items: Sequence[Any],
) -> BatchOut:
    """Up to 1,000 writes, each idempotent under its own key and atomic on its own.

    Each item runs in a savepoint of one database transaction, so the batch costs one
    commit; an item that fails leaves the others untouched, and the answer has one result
    per item. Items that are not valid get their own 422 result.
    """
    results: list[BatchItemResult] = []
    async with unit_of_work(factory) as session:
        conn = await driver_connection(session)
        for index, raw in enumerate(items):
            try:
                item = BATCH_ITEM.validate_python(raw)
            except ValidationError as exc:
                failure = Unprocessable(
                    "The item is not valid.", errors=validation_field_errors(exc.errors())
                )
                results.append(
                    BatchItemResult(index=index, status=422, body=problem_body(failure, instance))
                )
                continue
            operation, payload, work = _batch_work(item)
            try:
                async with conn.transaction():  # keeps a failed item from the others
                    outcome = await idempotent_on(
                        conn,
                        principal=principal,
                        key=item.idempotency_key,
                        mark=fingerprint(operation, payload),
                        instance=instance,
                        work=work,
                    )
            except TenureError as exc:  # in flight, or a key reused with another request
                outcome = Outcome(exc.status_code, problem_body(exc, instance))
            results.append(BatchItemResult(index=index, status=outcome.status, body=outcome.body))
    return BatchOut(results=results)


def _batch_work(item: BatchItem) -> tuple[str, Any, Work]:
    """The operation name, fingerprinted payload and work of one batch item."""
    key = item.idempotency_key
    if isinstance(item, BatchGrant):
        grant_body = item.grant
        return "grant", grant_body.model_dump(mode="json"), lambda c: grant(c, grant_body, key)
    if isinstance(item, BatchRedemption):
        redemption = item.redemption
        return (
            "redemption",
            redemption.model_dump(mode="json"),
            lambda c: redeem(c, redemption, key),
        )
    reversal = item.reversal
    payload = {"transaction_id": str(reversal.transaction_id), "reason": reversal.reason}
    return "reverse", payload, lambda c: reverse(c, reversal.transaction_id, reversal.reason, key)


# --- writing transactions -----------------------------------------------------------------


def _content(
    fields: dict[str, Any], postings: Sequence[PostingLine], movements: Sequence[Allocation]
) -> ChainedContent:
    """What a transaction's hash covers, from its stored fields (writer and auditor alike)."""
    return ChainedContent(
        id=str(fields["id"]),
        kind=fields["kind"],
        effective_at=fields["effective_at"],
        chain_key=fields["chain_key"],
        chain_seq=fields["chain_seq"],
        references={
            "account_id": fields["customer_account_id"],
            "offer_id": fields["offer_id"],
            "program_id": fields["program_id"],
            "invoice_id": fields["invoice_id"],
            "tier": fields["tier"],
            "reverses_id": str(fields["reverses_id"]) if fields["reverses_id"] else None,
            "metadata": fields["metadata"] or None,
        },
        postings=[(p.account, p.unit, p.amount) for p in postings],
        lot_movements=[(str(m.lot_id), m.amount) for m in movements],
    )


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


async def _write(
    conn: repo.Conn,
    *,
    head: repo.Head,
    kind: str,
    postings: list[PostingLine],
    movements: Sequence[Allocation] = (),
    lot_changes: Sequence[Allocation] = (),
    new_lot: repo.NewLot | None = None,
    balance_change: int = 0,
    transaction_id: uuid.UUID | None = None,
    idempotency_key: str | None = None,
    **references: Any,
) -> TransactionOut:
    """Link a balanced transaction into its owner's chain and write it, in one statement."""
    if not balanced(postings):
        raise ValueError("postings must sum to zero in every unit")
    fields: dict[str, Any] = {
        "id": transaction_id or uuid.uuid4(),
        "kind": kind,
        "idempotency_key": idempotency_key,
        "effective_at": utc_now(),
        "customer_account_id": None,
        "offer_id": None,
        "program_id": None,
        "invoice_id": None,
        "tier": None,
        "reverses_id": None,
        "metadata": {},
        "chain_key": head.id,
        "chain_seq": head.chain_seq + 1,
        "prev_hash": head.chain_hash or GENESIS,
    }
    fields.update(references)
    fields["hash"] = chain_hash(fields["prev_hash"], _content(fields, postings, movements))
    await repo.write_transaction(
        conn,
        row=fields,
        postings=[(p.account, p.unit, p.amount) for p in postings],
        movements=[(m.lot_id, m.amount) for m in movements],
        lot_changes=[(c.lot_id, c.amount) for c in lot_changes],
        new_lot=new_lot,
        balance_change=balance_change,
    )
    return _tx_out(fields, postings, movements)


def _tx_out(
    fields: dict[str, Any], postings: Sequence[PostingLine], movements: Sequence[Allocation]
) -> TransactionOut:
    return TransactionOut(
        id=fields["id"],
        kind=fields["kind"],
        effective_at=fields["effective_at"],
        account_id=fields["customer_account_id"],
        offer_id=fields["offer_id"],
        program_id=fields["program_id"],
        invoice_id=fields["invoice_id"],
        tier=fields["tier"],
        reverses_id=fields["reverses_id"],
        metadata=fields["metadata"] or {},
        postings=[
            PostingOut(ledger_account_id=p.account, unit=p.unit, amount=p.amount) for p in postings
        ],
        lot_movements=[LotMovementOut(lot_id=m.lot_id, amount=m.amount) for m in movements],
        chain_key=fields["chain_key"],
        chain_seq=fields["chain_seq"],
        prev_hash=fields["prev_hash"],
        hash=fields["hash"],
    )


def lot_out(lot: CreditLot | repo.LotRow, now: datetime) -> LotOut:
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


async def _customer(conn: repo.Conn, account_id: str, unit: str) -> repo.Head:
    head = await repo.lock_head(conn, customer_account(account_id, unit))
    if head is None:
        raise NotFound(f"Account '{account_id}' has no {unit} credit in the ledger.")
    return head


# --- grants, redemptions, reversals, expiry ------------------------------------------------


async def grant(conn: repo.Conn, body: GrantIn, key: str) -> tuple[int, Any]:
    """Create a credit lot: expense (program) debited, the customer's liability credited."""
    now = utc_now()
    if body.expires_at.tzinfo is None or body.expires_at <= now:
        raise Unprocessable.for_field("/expires_at", "must be a time zone-aware time in the future")
    customer = customer_account(body.account_id, body.unit)
    expense = expense_account(body.program_id, body.unit)
    head = await repo.lock_head(conn, customer)
    if head is None:
        await repo.ensure_accounts(
            conn,
            [
                {
                    "id": customer,
                    "kind": "customer",
                    "unit": body.unit,
                    "customer_account_id": body.account_id,
                    "balance": 0,
                },
                {
                    "id": expense,
                    "kind": "expense",
                    "unit": body.unit,
                    "program_id": body.program_id,
                },
            ],
        )
        head = await _customer(conn, body.account_id, body.unit)
    else:
        await repo.ensure_accounts(
            conn,
            [
                {
                    "id": expense,
                    "kind": "expense",
                    "unit": body.unit,
                    "program_id": body.program_id,
                },
            ],
        )
    lot = repo.NewLot(uuid.uuid4(), body.unit, body.amount, body.expires_at.astimezone(UTC))
    out = await _write(
        conn,
        head=head,
        kind="grant",
        idempotency_key=key,
        postings=[
            PostingLine(expense, body.unit, body.amount),
            PostingLine(customer, body.unit, -body.amount),
        ],
        movements=[Allocation(lot.id, body.amount)],
        new_lot=lot,
        balance_change=body.amount,
        customer_account_id=body.account_id,
        offer_id=body.offer_id,
        program_id=body.program_id,
        tier=body.tier,
        metadata=body.metadata,
    )
    lot_view = repo.LotRow(
        lot.id,
        out.id,
        customer,
        body.account_id,
        body.unit,
        body.amount,
        body.amount,
        lot.expires_at,
        out.effective_at,
        body.program_id,
        body.tier,
    )
    return 201, GrantOut(transaction=out, lot=lot_out(lot_view, now)).model_dump(mode="json")


async def redeem(conn: repo.Conn, body: RedemptionIn, key: str) -> tuple[int, Any]:
    """Apply up to the requested amount to an invoice from lots that expire first."""
    now = utc_now()
    head = await _customer(conn, body.account_id, body.unit)
    lots = await repo.lock_open_lots(conn, head.id)
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
    invoices = invoices_account(body.unit)
    await repo.ensure_accounts(conn, [{"id": invoices, "kind": "invoices", "unit": body.unit}])
    taken = [Allocation(a.lot_id, -a.amount) for a in allocations]
    out = await _write(
        conn,
        head=head,
        kind="redemption",
        idempotency_key=key,
        postings=[
            PostingLine(head.id, body.unit, applied),
            PostingLine(invoices, body.unit, -applied),
        ],
        movements=taken,
        lot_changes=taken,
        balance_change=-applied,
        customer_account_id=body.account_id,
        invoice_id=body.invoice_id,
        metadata=body.metadata,
    )
    result = RedemptionOut(
        requested=body.amount,
        applied=applied,
        allocations=[LotMovementOut(lot_id=a.lot_id, amount=a.amount) for a in allocations],
        transaction=out,
    )
    return 200, result.model_dump(mode="json")


async def reverse(
    conn: repo.Conn, transaction_id: uuid.UUID, reason: str, key: str
) -> tuple[int, Any]:
    """A linked opposite transaction (grants only for what is left unredeemed)."""
    original = await repo.transaction_row(conn, transaction_id)
    if original is None:
        raise NotFound(f"No transaction {transaction_id}.")
    customer_lines = [p for p in original.postings if p[0].startswith("customer:")]
    head = await repo.lock_head(conn, customer_lines[0][0] if customer_lines else SYSTEM_CHAIN)
    assert head is not None
    try:
        check_reversible(original.kind, await repo.is_reversed(conn, original.id))
        lines = [PostingLine(*p) for p in original.postings]
        # A grant (or an adjustment that credited a customer) created a lot: what is left of
        # it is taken back. Anything else gives back what it took from lots, if anything.
        created = await repo.lock_lot_created_by(conn, original.id)
        if created is not None:
            amount = grant_reversal(created.amount, created.remaining)
            reversal = opposite(lines, (amount, created.amount))
            movements = [Allocation(created.id, -amount)]
            change = -amount
        else:
            await repo.lock_lots(conn, [lot_id for lot_id, _ in original.movements])
            movements = [Allocation(lot_id, -m) for lot_id, m in original.movements]
            change = total(movements)
            amount = change if customer_lines else sum(p.amount for p in lines if p.amount > 0)
            reversal = opposite(lines)
    except NotReversible as exc:
        raise Conflict(f"Transaction {transaction_id} cannot be reversed: {exc}.") from exc
    out = await _write(
        conn,
        head=head,
        kind="reversal",
        idempotency_key=key,
        postings=reversal,
        movements=movements,
        lot_changes=movements,
        balance_change=change,
        customer_account_id=original.customer_account_id,
        offer_id=original.offer_id,
        program_id=original.program_id,
        invoice_id=original.invoice_id,
        tier=original.tier,
        reverses_id=original.id,
        metadata={"reason": reason},
    )
    return 200, ReversalOut(reversed_amount=amount, transaction=out).model_dump(mode="json")


async def adjust(conn: repo.Conn, body: AdjustmentIn, key: str) -> tuple[int, Any]:
    """Post explicit, balanced lines; a customer's credit moves through lots as usual."""
    lines = [PostingLine(p.ledger_account_id, p.unit, p.amount) for p in body.postings]
    customer: dict[str, str] | None = None
    rows: list[dict[str, Any]] = [{"id": SYSTEM_CHAIN, "kind": "chain", "unit": "none"}]
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
        rows.append(
            {
                "id": line.account,
                "kind": parts["kind"],
                "unit": line.unit,
                "customer_account_id": parts.get("customer"),
                "program_id": parts.get("program"),
                "balance": 0 if parts["kind"] == "customer" else None,
            }
        )
    if not balanced(lines):
        raise Unprocessable.for_field("/postings", "must sum to zero in every unit")
    await repo.ensure_accounts(conn, rows)
    head = await repo.lock_head(conn, customer["id"] if customer else SYSTEM_CHAIN)
    assert head is not None
    # A customer's credit is a liability: a negative posting adds to the balance.
    change = -sum(line.amount for line in lines if customer and line.account == customer["id"])
    movements: list[Allocation] = []
    new_lot = None
    now = utc_now()
    if customer is not None and change > 0:  # a credit: a new lot
        if body.expires_at is None or body.expires_at.tzinfo is None or body.expires_at <= now:
            raise Unprocessable.for_field(
                "/expires_at", "a credit to a customer needs a time zone-aware future expiry"
            )
        new_lot = repo.NewLot(
            uuid.uuid4(), customer["unit"], change, body.expires_at.astimezone(UTC)
        )
        movements = [Allocation(new_lot.id, change)]
    elif customer is not None and change < 0:  # a debit: from the lots that expire first
        lots = await repo.lock_open_lots(conn, customer["id"])
        usable = [Lot(x.id, x.remaining, x.expires_at, x.granted_at) for x in lots]
        taken = allocate(usable, -change, now)
        if total(taken) < -change:
            raise Conflict(f"Only {total(taken)} of {-change} can be taken; nothing was changed.")
        movements = [Allocation(a.lot_id, -a.amount) for a in taken]
    out = await _write(
        conn,
        head=head,
        kind="adjustment",
        idempotency_key=key,
        postings=lines,
        movements=movements,
        lot_changes=movements if new_lot is None else [],
        new_lot=new_lot,
        balance_change=change,
        customer_account_id=customer["customer"] if customer else None,
        program_id=body.program_id,
        metadata={**body.metadata, "reason": body.reason},
    )
    return 201, out.model_dump(mode="json")


async def expire_due(
    factory: async_sessionmaker[AsyncSession], as_of: datetime, batch: int = 200
) -> ExpirationRunOut:
    """Move the remainder of every lot past expiry to breakage, once (one transaction each).

    Each customer account is swept in a database transaction of its own; running again finds
    nothing more to expire.
    """
    lots_expired = 0
    amounts: dict[str, int] = defaultdict(int)
    while True:
        async with unit_of_work(factory) as session:
            accounts = await repo.due_lot_accounts(await driver_connection(session), as_of, batch)
        if not accounts:
            break
        for ledger_account_id in accounts:
            async with unit_of_work(factory) as session:
                conn = await driver_connection(session)
                head = await repo.lock_head(conn, ledger_account_id)
                assert head is not None
                for lot in await repo.lock_due_lots(conn, ledger_account_id, as_of):
                    breakage = breakage_account(lot.program_id or "none", lot.unit)
                    await repo.ensure_accounts(
                        conn,
                        [
                            {
                                "id": breakage,
                                "kind": "breakage",
                                "unit": lot.unit,
                                "program_id": lot.program_id,
                            },
                        ],
                    )
                    swept = [Allocation(lot.id, -lot.remaining)]
                    out = await _write(
                        conn,
                        head=head,
                        kind="expiry",
                        postings=[
                            PostingLine(head.id, lot.unit, lot.remaining),
                            PostingLine(breakage, lot.unit, -lot.remaining),
                        ],
                        movements=swept,
                        lot_changes=swept,
                        balance_change=-lot.remaining,
                        customer_account_id=lot.customer_account_id,
                        program_id=lot.program_id,
                        tier=lot.tier,
                        metadata={"lot_id": str(lot.id)},
                    )
                    head = repo.Head(head.id, head.balance, out.chain_seq, out.hash)
                    lots_expired += 1
                    amounts[lot.unit] += lot.remaining
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


async def transactions_out(
    session: AsyncSession, txs: Sequence[LedgerTransaction]
) -> list[TransactionOut]:
    """Stored transactions with their postings and movements (two queries for all)."""
    ids = [tx.id for tx in txs]
    postings = await repo.postings_of(session, ids)
    movements = await repo.movements_of(session, ids)
    return [
        _tx_out(
            _fields(tx),
            [PostingLine(p.ledger_account_id, p.unit, p.amount) for p in postings[tx.id]],
            [Allocation(m.lot_id, m.amount) for m in movements[tx.id]],
        )
        for tx in txs
    ]


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
            elif chain_hash(tx.prev_hash, _content(_fields(tx), lines, moves)) != tx.hash:
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


async def statement(
    session: AsyncSession,
    account_id: str,
    unit: str,
    start: datetime,
    end: datetime,
    after: tuple[datetime, int] | None,
    limit: int,
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
    cursor = encode_cursor([last[0].isoformat(), last[1]]) if len(rows) > limit else None
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
