"""What a group of writes holds locked, and how each transaction changes it, free of I/O.

A write group locks the chain heads it touches (customer ledger accounts, or the system
chain) and loads their lots into a ``Book``. Each write is planned against the book in
order: ``post`` checks the transaction balances, links it into its owner's chain, and moves
the owner's balance and the lots' remainders exactly as its postings and lot movements say.
What the book ends with is then written in one statement, so a group costs a handful of
round trips however many writes it holds.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.ledger.domain.amounts import check_balance
from services.ledger.domain.credit import credit_moved
from services.ledger.domain.hashing import GENESIS, ChainedContent, chain_hash
from services.ledger.domain.lots import Allocation, Lot
from services.ledger.domain.reversals import PostingLine, balanced
from services.ledger.domain.units import SYSTEM_CHAIN


@dataclass
class Head:
    """A chain owner: its balance (customer accounts only) and the head of its chain."""

    id: str
    balance: int | None
    chain_seq: int
    chain_hash: str | None


@dataclass
class BookLot:
    """A credit lot; ``remaining`` changes only through movements posted to the book."""

    id: uuid.UUID
    grant_id: uuid.UUID
    ledger_account_id: str
    customer_account_id: str
    unit: str
    amount: int
    remaining: int
    expires_at: datetime
    granted_at: datetime
    program_id: str | None
    tier: str | None
    # The offer whose grant made the lot: its movements are told to offers (credit.moved).
    offer_id: str | None = None


@dataclass(frozen=True)
class TxRow:
    """A stored transaction's columns, with its postings and movements (what a reversal of it
    is planned from)."""

    id: uuid.UUID
    kind: str
    customer_account_id: str | None
    offer_id: str | None
    program_id: str | None
    invoice_id: str | None
    tier: str | None
    postings: list[tuple[str, str, int]]
    movements: list[tuple[uuid.UUID, int]]


def chain_of(original: TxRow) -> str:
    """A transaction's chain: its customer's ledger account, or the system chain."""
    for account, _unit, _amount in original.postings:
        if account.startswith("customer:"):
            return account
    return SYSTEM_CHAIN


@dataclass(frozen=True)
class Entry:
    """A transaction ready to be written: its row (hash included), postings and movements."""

    fields: dict[str, Any]
    postings: list[PostingLine]
    movements: list[Allocation]
    # ``credit.moved`` payloads, one per movement of an offer's lot (written to the outbox
    # with the transaction).
    credit_moves: list[dict[str, Any]] = field(default_factory=list)


REFERENCES = ("customer_account_id", "offer_id", "program_id", "invoice_id", "tier")


def content_of(
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


@dataclass
class Book:
    """The locked heads and loaded lots of one write group, and the entries planned on them."""

    heads: dict[str, Head]
    lots: dict[uuid.UUID, BookLot]
    now: datetime
    reversed_ids: set[uuid.UUID] = field(default_factory=set)
    entries: list[Entry] = field(default_factory=list)
    new_lots: list[uuid.UUID] = field(default_factory=list)
    changed_lots: set[uuid.UUID] = field(default_factory=set)
    changed_heads: set[str] = field(default_factory=set)
    _by_account: dict[str, list[uuid.UUID]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for lot in self.lots.values():
            self._by_account.setdefault(lot.ledger_account_id, []).append(lot.id)

    @classmethod
    def of(
        cls,
        heads: Iterable[Head],
        lots: Iterable[BookLot],
        reversed_ids: Iterable[uuid.UUID],
        now: datetime,
    ) -> Book:
        """A book over what the group locked and loaded, at the group's time."""
        return cls({h.id: h for h in heads}, {lot.id: lot for lot in lots}, now, set(reversed_ids))

    def open_lots(self, ledger_account_id: str) -> list[Lot]:
        """An account's lots with credit left, as lot selection sees them."""
        return [
            Lot(lot.id, lot.remaining, lot.expires_at, lot.granted_at)
            for lot in self._lots_of(ledger_account_id)
            if lot.remaining > 0
        ]

    def due_lots(self, ledger_account_id: str, as_of: datetime) -> list[BookLot]:
        """An account's lots past expiry with credit left, in expiry order."""
        due = [
            lot
            for lot in self._lots_of(ledger_account_id)
            if lot.remaining > 0 and lot.expires_at <= as_of
        ]
        return sorted(due, key=lambda lot: (lot.expires_at, lot.id))

    def _lots_of(self, ledger_account_id: str) -> list[BookLot]:
        return [self.lots[i] for i in self._by_account.get(ledger_account_id, [])]

    @staticmethod
    def _credit_moves(
        fields: dict[str, Any],
        movements: Sequence[Allocation],
        lot: Callable[[uuid.UUID], BookLot],
    ) -> list[dict[str, Any]]:
        """What to tell offers of a transaction's movements of offers' lots (none for lots
        without an offer: they cost nothing more). Called before the book moves the lots, so
        each remainder is worked forward from the lot's."""
        moves: list[dict[str, Any]] = []
        left: dict[uuid.UUID, int] = {}
        for m in movements:
            moved = lot(m.lot_id)
            if moved.offer_id is None:
                continue
            left[m.lot_id] = left.get(m.lot_id, moved.remaining) + m.amount
            moves.append(
                credit_moved(
                    offer_id=moved.offer_id,
                    kind=fields["kind"],
                    transaction_id=fields["id"],
                    transaction_hash=fields["hash"],
                    amount=m.amount,
                    remaining=left[m.lot_id],
                    unit=moved.unit,
                    invoice_id=fields["invoice_id"],
                    expires_at=moved.expires_at,
                    effective_at=fields["effective_at"],
                )
            )
        return moves

    def lot_created_by(self, transaction_id: uuid.UUID) -> BookLot | None:
        """The lot a transaction created (a grant, or a credit adjustment), if any."""
        for lot in self.lots.values():
            if lot.grant_id == transaction_id:
                return lot
        return None

    def post(
        self,
        *,
        head_id: str,
        kind: str,
        postings: list[PostingLine],
        at: datetime,
        movements: Sequence[Allocation] = (),
        new_lot: BookLot | None = None,
        transaction_id: uuid.UUID | None = None,
        idempotency_key: str | None = None,
        reverses_id: uuid.UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **references: str | None,
    ) -> Entry:
        """Link a balanced transaction into ``head_id``'s chain and apply it to the book.

        The head's balance moves by minus its postings on the head's account (a customer's
        credit is a liability); lots move by the movements. Nothing changes if it raises
        (``BalanceLimit`` when the balance would pass its bound).
        """
        if not balanced(postings):
            raise ValueError("postings must sum to zero in every unit")
        head = self.heads[head_id]

        def lot(lot_id: uuid.UUID) -> BookLot:
            return new_lot if new_lot is not None and new_lot.id == lot_id else self.lots[lot_id]

        remaining = {m.lot_id: lot(m.lot_id).remaining for m in movements}
        for m in movements:
            remaining[m.lot_id] += m.amount
        if any(r < 0 or r > lot(i).amount for i, r in remaining.items()):
            raise ValueError("a lot's remainder would leave [0, amount]")
        balance = head.balance
        if balance is not None:
            balance -= sum(p.amount for p in postings if p.account == head_id)
            if balance < 0:
                raise ValueError("a customer's balance would go negative")
            check_balance(balance)
        fields: dict[str, Any] = {
            "id": transaction_id or uuid.uuid4(),
            "kind": kind,
            "idempotency_key": idempotency_key,
            "effective_at": at,
            **{name: references.get(name) for name in REFERENCES},
            "reverses_id": reverses_id,
            "metadata": metadata or {},
            "chain_key": head.id,
            "chain_seq": head.chain_seq + 1,
            "prev_hash": head.chain_hash or GENESIS,
        }
        fields["hash"] = chain_hash(fields["prev_hash"], content_of(fields, postings, movements))
        entry = Entry(
            fields, list(postings), list(movements), self._credit_moves(fields, movements, lot)
        )
        # Checked above: from here on nothing can fail half-way.
        if new_lot is not None:
            self.lots[new_lot.id] = new_lot
            self._by_account.setdefault(new_lot.ledger_account_id, []).append(new_lot.id)
            self.new_lots.append(new_lot.id)
        for lot_id, left in remaining.items():
            self.lots[lot_id].remaining = left
            self.changed_lots.add(lot_id)
        head.balance, head.chain_seq, head.chain_hash = balance, fields["chain_seq"], fields["hash"]
        self.changed_heads.add(head.id)
        if reverses_id is not None:
            self.reversed_ids.add(reverses_id)
        self.entries.append(entry)
        return entry
