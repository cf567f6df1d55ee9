"""The ledger's write path: every money movement is a balanced, chained, append-only transaction.

Writes are applied in groups, one database transaction per group: the group claims its
idempotency keys, locks the chain heads it touches (in id order, so groups never deadlock),
plans each write in order against a ``Book`` of that locked state, and writes everything the
book ends with in one statement. A single request is a group of whatever concurrent requests
the ``GroupWriter`` gathered while the previous group was in the database; a batch is a group
of its own. Either way a group costs a handful of round trips however many writes it holds,
and a write that fails the whole group is retried on its own so it cannot sink the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import structlog
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ledger import repository as repo
from services.ledger.domain.amounts import MAX_BALANCE_MINOR, BalanceLimit
from services.ledger.domain.book import Book, BookLot, Entry
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
from services.ledger.schemas import (
    BATCH_ITEM,
    AdjustmentIn,
    BatchGrant,
    BatchRedemption,
    ExpirationRunOut,
    GrantIn,
    RedemptionIn,
    ReversalIn,
)
from shared.errors import (
    RETRYABLE_STATES,
    FieldError,
    Forbidden,
    InsufficientCredit,
    KeyInFlight,
    KeyReused,
    NotFound,
    TenureError,
    Unprocessable,
    database_error_message,
    database_error_state,
    problem_body,
    validation_field_errors,
)
from shared.errors import (
    NotReversible as NotReversibleError,
)
from shared.logging import current_request_id

_log = structlog.get_logger("tenure.ledger.writer")


def utc_now() -> datetime:
    """Now, in UTC (PostgreSQL keeps microseconds, as does this)."""
    return datetime.now(UTC)


# --- what a write is ------------------------------------------------------------------------


@dataclass(frozen=True)
class Expiry:
    """Sweep one ledger account's lots past ``as_of`` to breakage (no key: it is idempotent)."""

    ledger_account_id: str
    unit: str
    programs: list[str | None]
    as_of: datetime


@dataclass(frozen=True)
class WriteOp:
    """One write, and the caller's key it runs under (expiry sweeps have none)."""

    Body = GrantIn | RedemptionIn | ReversalIn | AdjustmentIn | Expiry

    body: Body
    principal: str = ""
    key: str | None = None
    instance: str = ""
    request_id: str | None = None
    # The caller's scopes, for the rules that depend on what a write touches.
    scopes: frozenset[str] = frozenset()

    @property
    def operation(self) -> str:
        """The name that goes into the request's fingerprint."""
        return _OPERATIONS[type(self.body)]

    def fingerprint(self) -> str:
        """What makes two requests 'the same request' under one key."""
        body = self.body.model_dump(mode="json") if isinstance(self.body, BaseModel) else {}
        doc = orjson.dumps({"operation": self.operation, "body": body}, option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(doc).hexdigest()


_OPERATIONS: dict[type, str] = {
    GrantIn: "grant",
    RedemptionIn: "redemption",
    ReversalIn: "reverse",
    AdjustmentIn: "adjustment",
    Expiry: "expiry",
}


@dataclass(frozen=True)
class Outcome:
    """What one write answered, and the refusal to raise if it was one."""

    status: int
    body: Any
    refusal: TenureError | None = None
    # The response kept under the key from an earlier request, sent again.
    replayed: bool = False


def _refused(error: TenureError, op: WriteOp) -> Outcome:
    return Outcome(error.status_code, problem_body(error, op.instance, op.request_id), error)


# --- planning writes against the book --------------------------------------------------------


@dataclass
class _Needs:
    """What a group must create, lock and load before its writes can be planned."""

    heads: set[str] = field(default_factory=set)
    # FIFO accounts: how much the group may take from each (the lots that cover it load).
    fifo: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    due: dict[str, datetime] = field(default_factory=dict)
    lots_created_by: set[uuid.UUID] = field(default_factory=set)
    lot_ids: set[uuid.UUID] = field(default_factory=set)
    reversal_of: set[uuid.UUID] = field(default_factory=set)


def _accounts_of(op: WriteOp) -> list[dict[str, Any]]:
    """The ledger accounts a write posts to that may not exist yet (created up front)."""
    body = op.body
    if isinstance(body, GrantIn):
        if _expiry_problem(body.expires_at, utc_now()):
            return []  # refused when planned: nothing to create
        unit = body.unit
        return [
            {
                "id": customer_account(body.account_id, unit),
                "kind": "customer",
                "unit": unit,
                "customer_account_id": body.account_id,
                "balance": 0,
            },
            {
                "id": expense_account(body.program_id, unit),
                "kind": "expense",
                "unit": unit,
                "program_id": body.program_id,
            },
        ]
    if isinstance(body, RedemptionIn):
        return [{"id": invoices_account(body.unit), "kind": "invoices", "unit": body.unit}]
    if isinstance(body, AdjustmentIn):
        rows: list[dict[str, Any]] = [{"id": SYSTEM_CHAIN, "kind": "chain", "unit": "none"}]
        for line in body.postings:
            parts = parse_account(line.ledger_account_id)
            if parts is None or parts["unit"] != line.unit:
                continue  # refused when planned
            rows.append(
                {
                    "id": line.ledger_account_id,
                    "kind": parts["kind"],
                    "unit": line.unit,
                    "customer_account_id": parts.get("customer"),
                    "program_id": parts.get("program"),
                    "balance": 0 if parts["kind"] == "customer" else None,
                }
            )
        return rows
    if isinstance(body, Expiry):
        return [
            {
                "id": breakage_account(program or "none", body.unit),
                "kind": "breakage",
                "unit": body.unit,
                "program_id": program,
            }
            for program in body.programs
        ]
    return []  # a reversal posts to accounts its original already used


def _needs(op: WriteOp, originals: dict[uuid.UUID, repo.TxRow], needs: _Needs) -> None:
    """Add what a write must have locked and loaded before it can be planned."""
    body = op.body
    if isinstance(body, GrantIn):
        needs.heads.add(customer_account(body.account_id, body.unit))
    elif isinstance(body, RedemptionIn):
        customer = customer_account(body.account_id, body.unit)
        needs.heads.add(customer)
        needs.fifo[customer] = _needed(needs.fifo[customer] + body.amount)
    elif isinstance(body, ReversalIn):
        original = originals.get(body.transaction_id)
        if original is not None:
            needs.heads.add(_chain_of(original))
            needs.lots_created_by.add(original.id)
            needs.lot_ids.update(lot_id for lot_id, _ in original.movements)
            needs.reversal_of.add(original.id)
    elif isinstance(body, AdjustmentIn):
        customers = [p for p in body.postings if p.ledger_account_id.startswith("customer:")]
        for line in customers:
            needs.heads.add(line.ledger_account_id)
            taken = needs.fifo[line.ledger_account_id] + max(line.amount, 0)  # a debit takes
            needs.fifo[line.ledger_account_id] = _needed(taken)
        if not customers:
            needs.heads.add(SYSTEM_CHAIN)
    else:
        needs.heads.add(body.ledger_account_id)
        needs.due[body.ledger_account_id] = body.as_of


def _needed(amount: int) -> int:
    """What a group may take from one account: never more than a balance can hold (so the
    sum of many large writes still fits the query's 64-bit parameter)."""
    return min(amount, MAX_BALANCE_MINOR)


def _chain_of(original: repo.TxRow) -> str:
    """A transaction's chain: its customer's ledger account, or the system chain."""
    for account, _unit, _amount in original.postings:
        if account.startswith("customer:"):
            return account
    return SYSTEM_CHAIN


def _customer_head(book: Book, account_id: str, unit: str) -> str:
    head_id = customer_account(account_id, unit)
    if head_id not in book.heads:
        raise NotFound(f"Account '{account_id}' has no {unit} credit in the ledger.")
    return head_id


def _expiry_problem(expires_at: datetime, now: datetime) -> str | None:
    # An Instant: aware and in UTC already; only "when" is left to check.
    if expires_at <= now:
        return "must be in the future"
    return None


def _grant(book: Book, body: GrantIn, key: str | None) -> tuple[int, Any]:
    """Create a credit lot: expense (program) debited, the customer's liability credited."""
    now = book.now
    problem = _expiry_problem(body.expires_at, now)
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


def _reverse(
    book: Book, body: ReversalIn, op: WriteOp, original: repo.TxRow | None
) -> tuple[int, Any]:
    """A linked opposite transaction (grants only for what is left unredeemed).

    Reversing an adjustment needs the scope that made it (admin).
    """
    if original is None:
        raise NotFound(f"No transaction {body.transaction_id}.")
    if original.kind == "adjustment" and "admin" not in op.scopes:
        raise Forbidden("Reversing an adjustment needs the admin scope, as making one does.")
    key = op.key
    lines = [PostingLine(*p) for p in original.postings]
    chain = _chain_of(original)
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


def plan_write(book: Book, op: WriteOp, originals: dict[uuid.UUID, repo.TxRow]) -> tuple[int, Any]:
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


# --- applying a group --------------------------------------------------------------------------


async def apply_group(conn: repo.Conn, ops: Sequence[WriteOp]) -> list[Outcome]:
    """Apply writes in one database transaction on ``conn``; one outcome per write, in order.

    Keys: a key another transaction holds is a 409 (in flight); a key that already holds a
    response replays it (or is a 422 if the request differs); a key repeated within the group
    answers like a retry of its first use. A refusal (404, 409, 422) is kept under its key
    like a success (a 403 is not). Raises if the transaction fails; nothing is then written.
    """
    outcomes: list[Outcome | None] = [None] * len(ops)
    marks = [op.fingerprint() if op.key is not None else "" for op in ops]
    async with conn.transaction():
        keyed = [i for i, op in enumerate(ops) if op.key is not None]
        pairs = [_pair(ops[i]) for i in keyed]
        accounts = [row for op in ops for row in _accounts_of(op)]
        claims = await repo.open_group(conn, pairs, accounts)
        first: dict[tuple[str, str], int] = {}
        repeats: list[tuple[int, int]] = []
        for i, pair, (held, stored) in zip(keyed, pairs, claims, strict=True):
            if not held:
                error = KeyInFlight(
                    "A request with this Idempotency-Key is still in progress; retry shortly."
                )
                outcomes[i] = _refused(error, ops[i])
            elif stored is not None:
                outcomes[i] = _replay(stored, marks[i], ops[i])
            elif pair in first:
                repeats.append((i, first[pair]))
            else:
                first[pair] = i
        todo = [i for i, op in enumerate(ops) if op.key is None or first.get(_pair(op)) == i]

        originals = await repo.transaction_rows(
            conn,
            [b.transaction_id for b in (ops[i].body for i in todo) if isinstance(b, ReversalIn)],
        )
        needs = _Needs()
        for i in todo:
            _needs(ops[i], originals, needs)
        heads = await repo.lock_heads(conn, sorted(needs.heads))
        # Read the clock once the heads are locked: a chain's entries then never go back in
        # time, and every write in the group sees the same lots as expired or not.
        now = utc_now()
        lots = []
        if needs.fifo or needs.due or needs.lots_created_by or needs.lot_ids:
            lots = await repo.load_lots(
                conn,
                now=now,
                fifo=needs.fifo,
                due=needs.due,
                created_by=sorted(needs.lots_created_by),
                ids=sorted(needs.lot_ids),
            )
        reversed_ids = await repo.reversed_among(conn, sorted(needs.reversal_of))
        book = Book.of(heads, lots, reversed_ids, now)

        kept: list[repo.KeptResponse] = []
        for i in todo:
            op = ops[i]
            try:
                status, result = plan_write(book, op, originals)
                outcomes[i] = Outcome(status, result)
            except TenureError as exc:
                outcomes[i] = _refused(exc, op)
            done = outcomes[i]
            assert done is not None
            # A refusal for want of a scope is not kept: the principal may be given the
            # scope, and its retry with the same key should then run.
            if op.key is not None and not isinstance(done.refusal, Forbidden):
                kept.append(
                    repo.KeptResponse(op.principal, op.key, marks[i], done.status, done.body)
                )
        for i, j in repeats:
            done = outcomes[j]
            assert done is not None
            outcomes[i] = _replay(
                repo.StoredResponse(marks[j], done.status, done.body), marks[i], ops[i]
            )
        if book.entries or kept:
            await repo.write_book(conn, book, kept)
    return [o for o in outcomes if o is not None]


def _pair(op: WriteOp) -> tuple[str, str]:
    return (op.principal, op.key or "")


def _replay(stored: repo.StoredResponse, mark: str, op: WriteOp) -> Outcome:
    """A retry: the first response again, unless the key was used for another request."""
    if stored.fingerprint != mark:
        error = KeyReused(
            "This Idempotency-Key was used with a different request.",
            errors=[FieldError(detail="reused with other parameters", parameter="Idempotency-Key")],
        )
        return _refused(error, op)
    return Outcome(stored.status, stored.body, replayed=True)


async def apply_each(conn: repo.Conn, ops: Sequence[WriteOp]) -> list[Outcome | Exception]:
    """Apply a group; if its transaction fails, apply each write again on its own.

    A write that breaks the group's transaction (a deadlock, a bug) then fails alone, and
    its exception is its outcome; one that met a request with its key committing at that
    very moment (see ``repo.open_group``) now finds that request's response.
    """
    try:
        return list(await apply_group(conn, ops))
    except Exception as exc:
        if conn.is_closed():
            return [exc] * len(ops)
        _log.warning("write_group_failed", writes=len(ops), error=type(exc).__name__)
    results: list[Outcome | Exception] = []
    for op in ops:
        try:
            results.extend(await apply_group(conn, [op]))
        except Exception as exc:
            results.append(exc)
    return results


_DRAIN_SECONDS = 5.0

# Every statement of the write path probes rows by key: ``= ANY`` over the group's array, or
# ``unnest`` joined on a key. The plan cache keeps a generic plan after five runs, planned
# for the tables as they were then; planned while the ledger was small, it scanned
# ledger_accounts and lots whole and matched each row against the array one element at a
# time (400 ms to lock 500 heads among 40,000 accounts rather than 2 ms), and it stayed
# until an ANALYZE happened to replace it: the batched benchmark ran at full speed or at a
# fraction of it, on the same code. Custom plans (plan_cache_mode = force_custom_plan) are
# no cure: they replan the foreign-key checks of every row written too (90 ms of a group of
# 500 grants, not 20), and still prefer scans while page costs are the default. Refusing
# sequential scans makes each cached plan the index probe it is meant to be, at any size.
WRITER_SETTINGS = {"enable_seqscan": "off"}


async def connect(dsn: str) -> repo.Conn:
    """A connection for the group writer, whose cached plans probe by key (see above)."""
    return await asyncpg.connect(dsn, server_settings=WRITER_SETTINGS)


@dataclass(frozen=True)
class _Queued:
    ops: list[WriteOp]
    future: asyncio.Future[list[Outcome | Exception]]


class GroupWriter:
    """Applies every ledger write, in groups, on connections of its own.

    Concurrent requests queue up while the groups in flight are in the database and go
    together in the next group: under load they share round trips and the commit; alone, a
    request goes straight through with no added wait. Each group in flight keeps one
    database connection, so a group costs no pool checkout.
    """

    def __init__(self, dsn: str, *, group_size: int, concurrency: int) -> None:
        self._dsn = dsn
        self._group_size = group_size
        self._queue: asyncio.Queue[_Queued] = asyncio.Queue()
        self._tasks = [
            asyncio.create_task(self._run(), name=f"ledger-writer-{n}") for n in range(concurrency)
        ]

    async def submit(self, op: WriteOp) -> Outcome:
        """Apply one write (in whatever group it joins) and return its outcome."""
        (result,) = await self.apply([op])
        if isinstance(result, Exception):
            raise result
        return result

    async def apply(self, ops: Sequence[WriteOp]) -> list[Outcome | Exception]:
        """Apply writes together (a batch); each one's outcome, or the exception it failed on."""
        future: asyncio.Future[list[Outcome | Exception]] = (
            asyncio.get_running_loop().create_future()
        )
        self._queue.put_nowait(_Queued(list(ops), future))
        # A caller that goes away does not take the write with it: it finishes, and a retry
        # with the same key gets its response.
        return await asyncio.shield(future)

    async def close(self) -> None:
        """Finish the writes already queued (for a few seconds at most), then stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), _DRAIN_SECONDS)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        conn = None
        try:
            while True:
                taken = [await self._queue.get()]
                size = len(taken[0].ops)
                while size < self._group_size and not self._queue.empty():
                    taken.append(self._queue.get_nowait())
                    size += len(taken[-1].ops)
                ops = [op for queued in taken for op in queued.ops]
                try:
                    if conn is None or conn.is_closed():
                        conn = await connect(self._dsn)
                    results = await apply_each(conn, ops)
                except Exception as exc:  # no connection: every write in the group fails
                    results = [exc] * len(ops)
                for queued in taken:
                    mine, results = results[: len(queued.ops)], results[len(queued.ops) :]
                    if not queued.future.done():
                        queued.future.set_result(mine)
                    self._queue.task_done()
        finally:
            if conn is not None:
                await conn.close()


# --- batches and expiry -------------------------------------------------------------------------


async def run_batch(
    writer: GroupWriter,
    *,
    principal: str,
    scopes: frozenset[str],
    instance: str,
    items: Sequence[Any],
) -> dict[str, Any]:
    """Up to 1,000 writes, each idempotent under its own key and atomic on its own.

    Valid items are applied as one group (one database transaction; an item that fails it is
    retried alone, see ``apply_each``); an item that is not valid gets its own 422 result.
    Once anything may have been committed, every item's answer is in the list, whatever went
    wrong with the others: the answer (``BatchOut``, ready for JSON) has one result per item,
    in order, and is never replaced by one whole-request error.
    """
    results: dict[int, dict[str, Any]] = {}
    ops: list[tuple[int, WriteOp]] = []
    for index, raw in enumerate(items):
        try:
            item = BATCH_ITEM.validate_python(raw)
        except ValidationError as exc:
            failure = Unprocessable(
                "The item is not valid.", errors=_item_field_errors(index, raw, exc)
            )
            refused = Outcome(422, problem_body(failure, instance), failure)
            results[index] = _item_result(index, "", refused)
            continue
        body: GrantIn | RedemptionIn | ReversalIn = (
            item.grant
            if isinstance(item, BatchGrant)
            else item.redemption
            if isinstance(item, BatchRedemption)
            else item.reversal
        )
        op = WriteOp(body, principal, item.idempotency_key, instance, current_request_id(), scopes)
        ops.append((index, op))
    outcomes = await writer.apply([op for _, op in ops]) if ops else []
    for (index, op), outcome in zip(ops, outcomes, strict=True):
        done = failure_outcome(outcome, op) if isinstance(outcome, Exception) else outcome
        # A valid item names its operation, the member its body is under.
        results[index] = _item_result(index, str(items[index]["operation"]), done)
    return {"results": [results[i] for i in range(len(items))]}


def _item_result(index: int, operation: str, outcome: Outcome) -> dict[str, Any]:
    """One item's answer. A problem names what is wrong in the request that was sent: a
    field of the item's operation, or its key, as a pointer into the batch's body (the
    response kept under the key names them as a single request has them)."""
    body = outcome.body
    if outcome.status >= 400 and operation and isinstance(body, dict) and body.get("errors"):
        item = f"/items/{index}"
        body = {
            **body,
            "errors": [_in_batch(error, f"{item}/{operation}", item) for error in body["errors"]],
        }
    return {"index": index, "status": outcome.status, "body": body, "replayed": outcome.replayed}


def _in_batch(error: dict[str, Any], operation: str, item: str) -> dict[str, Any]:
    if error.get("parameter") == "Idempotency-Key":
        return {"detail": error["detail"], "pointer": f"{item}/idempotency_key"}
    if error.get("pointer") is not None:
        return {**error, "pointer": operation + error["pointer"]}
    return error


def _item_field_errors(index: int, raw: Any, exc: ValidationError) -> list[FieldError]:
    """Validation errors of one batch item, as pointers into the whole request body."""
    tag = raw.get("operation") if isinstance(raw, dict) else None
    located = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        if tag is not None and loc[:1] == (tag,):
            loc = loc[1:]  # the union's tag, not a place in the item
        located.append({**err, "loc": ("body", "items", index, *loc)})
    return validation_field_errors(located)


class Unstorable(Unprocessable):
    """A value the service let through that the database refuses to store."""

    type_slug = "unstorable-value"


class RetryLater(TenureError):
    """The database could not finish the write; sending it again is safe."""

    status_code = 503
    title = "Service Unavailable"
    type_slug = "retry"


def failure_outcome(exc: Exception, op: WriteOp) -> Outcome:
    """The answer for a write that failed on its own (see ``apply_each``), as a problem.

    A value the database refuses is the caller's to fix (422); a lost connection, deadlock
    or shutdown may be sent again (503; nothing was kept under its key); anything else is
    logged and is a 500 for that write alone.
    """
    state = database_error_state(exc)
    reason = database_error_message(exc)
    error: TenureError
    if state is not None and state.startswith(("22", "23")):
        error = Unstorable(f"A value in the request cannot be stored: {reason}")
    elif (
        state in RETRYABLE_STATES
        or (state or "").startswith("08")
        or isinstance(exc, asyncpg.ConnectionDoesNotExistError | ConnectionError)
    ):
        error = RetryLater(
            "The database could not finish this write; send it again (a repeat with the same"
            " Idempotency-Key is safe)."
        )
    else:
        _log.error("write_failed", exc_info=exc, operation=op.operation)
        error = TenureError("An unexpected error occurred; quote the request id when reporting it.")
    return _refused(error, op)


async def expire_due(
    factory: async_sessionmaker[AsyncSession], writer: GroupWriter, as_of: datetime
) -> ExpirationRunOut:
    """Move the remainder of every lot past expiry to breakage, once.

    Accounts are swept a group at a time (one database transaction each); running again
    finds nothing more to expire.
    """
    lots_expired = 0
    amounts: dict[str, int] = defaultdict(int)
    while True:
        async with factory() as session:
            due = await repo.due_accounts(session, as_of, _EXPIRY_GROUP)
        if not due:
            break
        ops = [WriteOp(Expiry(d.ledger_account_id, d.unit, d.programs, as_of)) for d in due]
        for outcome in await writer.apply(ops):
            if isinstance(outcome, Exception):
                raise outcome
            lots_expired += outcome.body["lots"]
            for unit, amount in outcome.body["amounts"].items():
                amounts[unit] += amount
    return ExpirationRunOut(as_of=as_of, expired_lots=lots_expired, amounts=dict(amounts))


_EXPIRY_GROUP = 200


# --- how written things look to callers -------------------------------------------------------


def iso(at: datetime) -> str:
    """A time as the response models write it: UTC, ``Z``, microseconds only when not zero."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def transaction_json(entry: Entry) -> dict[str, Any]:
    """A transaction as callers see it (``TransactionOut``), ready for JSON.

    Built by hand rather than through the pydantic model: the write path answers every
    request with one, and the model's validate-then-dump took a fifth of a batch's time.
    A test holds it to the model.
    """
    fields = entry.fields
    reverses = fields["reverses_id"]
    return {
        "id": str(fields["id"]),
        "kind": fields["kind"],
        "effective_at": iso(fields["effective_at"]),
        "account_id": fields["customer_account_id"],
        "offer_id": fields["offer_id"],
        "program_id": fields["program_id"],
        "invoice_id": fields["invoice_id"],
        "tier": fields["tier"],
        "reverses_id": str(reverses) if reverses else None,
        "metadata": fields["metadata"] or {},
        "postings": [
            {"ledger_account_id": p.account, "unit": p.unit, "amount": p.amount}
            for p in entry.postings
        ],
        "lot_movements": [{"lot_id": str(m.lot_id), "amount": m.amount} for m in entry.movements],
        "chain_key": fields["chain_key"],
        "chain_seq": fields["chain_seq"],
        "prev_hash": fields["prev_hash"],
        "hash": fields["hash"],
    }


def lot_json(lot: Any, now: datetime) -> dict[str, Any]:
    """A lot (stored or in a book) as callers see it (``LotOut``), with its status now."""
    status = "expired" if lot.expires_at <= now else ("active" if lot.remaining > 0 else "used")
    return {
        "id": str(lot.id),
        "grant_id": str(lot.grant_id),
        "account_id": lot.customer_account_id,
        "unit": lot.unit,
        "amount": lot.amount,
        "remaining": lot.remaining,
        "expires_at": iso(lot.expires_at),
        "granted_at": iso(lot.granted_at),
        "program_id": lot.program_id,
        "tier": lot.tier,
        "status": status,
    }
