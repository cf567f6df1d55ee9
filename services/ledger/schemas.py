"""The ledger's request and response bodies. Amounts are integers in minor units, always."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, TypeAdapter

from services.ledger.domain.amounts import MAX_AMOUNT_MINOR
from services.ledger.domain.units import valid_unit
from shared.validation import ID_PATTERN, Instant, JsonObject, Text


def _unit(value: str) -> str:
    if not valid_unit(value):
        raise ValueError("must be an ISO currency code (USD) or a named unit (training_hours)")
    return value


Unit = Annotated[str, AfterValidator(_unit)]
Amount = Annotated[
    StrictInt,
    Field(gt=0, le=MAX_AMOUNT_MINOR, description="Integer minor units, at most 10^15"),
]
# An account id the ledger takes is one its paths can name (/v1/balances/{account_id}).
AccountRef = Annotated[Text, Field(min_length=1, max_length=200, pattern=ID_PATTERN)]
Reference = Annotated[Text, Field(min_length=1, max_length=200)]
Tier = Annotated[Text, Field(min_length=1, max_length=40)]


class GrantIn(BaseModel):
    """Credit granted to a customer account, expiring at a date."""

    model_config = ConfigDict(extra="forbid")

    account_id: AccountRef
    unit: Unit
    amount: Amount
    expires_at: Instant
    program_id: Reference
    offer_id: Reference | None = None
    tier: Tier | None = None
    metadata: JsonObject = Field(default_factory=dict)


class RedemptionIn(BaseModel):
    """Apply up to ``amount`` of a customer's credit to an invoice."""

    model_config = ConfigDict(extra="forbid")

    account_id: AccountRef
    unit: Unit
    amount: Amount
    invoice_id: Reference
    require_full: bool = Field(
        default=False, description="Refuse (409, nothing changed) unless the whole amount applies"
    )
    metadata: JsonObject = Field(default_factory=dict)


class ReverseIn(BaseModel):
    """Why a transaction is reversed."""

    model_config = ConfigDict(extra="forbid")

    reason: Text = Field(min_length=1, max_length=500)


class ExpirationRunIn(BaseModel):
    """Expire every lot whose expiry is at or before ``as_of`` (default: now)."""

    model_config = ConfigDict(extra="forbid")

    as_of: Instant | None = None


class PostingOut(BaseModel):
    """One posting of a transaction."""

    ledger_account_id: str
    unit: str
    amount: int


class LotMovementOut(BaseModel):
    """How a transaction changed one lot's remainder."""

    lot_id: uuid.UUID
    amount: int


class TransactionOut(BaseModel):
    """A ledger transaction with its postings, lot movements and chain link."""

    id: uuid.UUID
    kind: Literal["grant", "redemption", "expiry", "reversal", "adjustment"]
    effective_at: datetime
    account_id: str | None
    offer_id: str | None
    program_id: str | None
    invoice_id: str | None
    tier: str | None
    reverses_id: uuid.UUID | None
    metadata: dict[str, object]
    postings: list[PostingOut]
    lot_movements: list[LotMovementOut]
    chain_key: str
    chain_seq: int
    prev_hash: str
    hash: str


class LotOut(BaseModel):
    """A credit lot."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    grant_id: uuid.UUID
    account_id: str
    unit: str
    amount: int
    remaining: int
    expires_at: datetime
    granted_at: datetime
    program_id: str | None
    tier: str | None
    status: Literal["active", "used", "expired"]


class GrantOut(BaseModel):
    """A grant: its transaction and the lot it created."""

    transaction: TransactionOut
    lot: LotOut


class RedemptionOut(BaseModel):
    """How much of the request was applied, and from which lots."""

    requested: int
    applied: int
    allocations: list[LotMovementOut]
    transaction: TransactionOut | None = Field(description="Null when nothing could be applied")


class ReversalOut(BaseModel):
    """The reversing transaction and how much it reversed."""

    reversed_amount: int
    transaction: TransactionOut


class BalanceOut(BaseModel):
    """A customer's credit balance in one unit, now or as of a past time."""

    account_id: str
    unit: str
    balance: int = Field(description="What the postings say the customer holds")
    available: int | None = Field(
        description="What a redemption can take now: the balance less credit whose lots have"
        " expired but not yet been swept to breakage (null for a past as_of)"
    )
    as_of: datetime | None


class BalancesOut(BaseModel):
    """A customer's balances, one per unit."""

    balances: list[BalanceOut]


class ExpirationRunOut(BaseModel):
    """What an expiry run swept to breakage."""

    as_of: datetime
    expired_lots: int
    amounts: dict[str, int] = Field(description="Expired amount per unit")


class AuditBreak(BaseModel):
    """The first place the ledger does not add up."""

    transaction_id: uuid.UUID | None
    chain_key: str | None
    reason: str


class AuditOut(BaseModel):
    """The result of walking every chain and recomputing every derived figure."""

    ok: bool
    transactions_checked: int
    chains: int
    first_break: AuditBreak | None


IdempotencyKeyField = Annotated[Text, Field(min_length=1, max_length=200)]


class ReversalIn(ReverseIn):
    """A reversal inside a batch: which transaction, and why."""

    transaction_id: uuid.UUID


class BatchGrant(BaseModel):
    """A grant in a batch, with its own Idempotency-Key."""

    model_config = ConfigDict(extra="forbid")

    operation: Literal["grant"]
    idempotency_key: IdempotencyKeyField
    grant: GrantIn


class BatchRedemption(BaseModel):
    """A redemption in a batch, with its own Idempotency-Key."""

    model_config = ConfigDict(extra="forbid")

    operation: Literal["redemption"]
    idempotency_key: IdempotencyKeyField
    redemption: RedemptionIn


class BatchReversal(BaseModel):
    """A reversal in a batch, with its own Idempotency-Key."""

    model_config = ConfigDict(extra="forbid")

    operation: Literal["reversal"]
    idempotency_key: IdempotencyKeyField
    reversal: ReversalIn


BatchItem = Annotated[
    BatchGrant | BatchRedemption | BatchReversal, Field(discriminator="operation")
]
BATCH_ITEM: TypeAdapter[BatchItem] = TypeAdapter(BatchItem)


class BatchIn(BaseModel):
    """Up to 1,000 writes; each item is checked, keyed and applied on its own."""

    model_config = ConfigDict(extra="forbid")

    items: list[object] = Field(
        min_length=1,
        max_length=1000,
        description=(
            "Each: {operation: grant|redemption|reversal, idempotency_key, <operation>: {...}}"
        ),
    )


class BatchItemResult(BaseModel):
    """One item's answer: the status and body it would have had as a single request."""

    index: int
    status: int
    body: object
    replayed: bool = Field(
        default=False,
        description="The answer kept under this item's key from an earlier request, sent again"
        " (as a single request's Idempotent-Replayed header says)",
    )


class BatchOut(BaseModel):
    """One result per item, in order."""

    results: list[BatchItemResult]


class StatementEntry(BaseModel):
    """One movement of a customer's credit, with the balance after it."""

    transaction_id: uuid.UUID
    kind: str
    effective_at: datetime
    amount: int = Field(description="Change to the credit balance (+ granted, - used)")
    balance_after: int
    offer_id: str | None
    invoice_id: str | None
    program_id: str | None
    reverses_id: uuid.UUID | None


class StatementOut(BaseModel):
    """A customer's credit over a period: opening balance, entries, closing balance."""

    account_id: str
    unit: str
    start: datetime
    end: datetime
    opening_balance: int
    closing_balance: int
    entries: list[StatementEntry]
    next_cursor: str | None


class LiabilityRow(BaseModel):
    """Outstanding credit for one unit, program, tier and age bucket (days since grant)."""

    unit: str
    program_id: str | None
    tier: str | None
    age: Literal["0-29", "30-59", "60-89", "90+"]
    amount: int


class LiabilityOut(BaseModel):
    """Outstanding liability; ``totals`` equal minus the customer accounts' postings."""

    rows: list[LiabilityRow]
    totals: dict[str, int]


class ExpiringRow(BaseModel):
    """Credit that will expire within 30, 60 and 90 days, for one unit."""

    unit: str
    within_30_days: int
    within_60_days: int
    within_90_days: int


class MonthlyRow(BaseModel):
    """One month's amount for a unit (and program: for breakage, grants, and redemptions
    asked of one program)."""

    month: str
    unit: str
    program_id: str | None = None
    amount: int


class MonthlyOut(BaseModel):
    """A report by month; ``totals`` equal the postings it covers, by unit (minus the
    postings on breakage and invoices, which are credited; the expense postings for grants)."""

    rows: list[MonthlyRow]
    totals: dict[str, int]


class PostingIn(BaseModel):
    """One line of an adjustment: a ledger account and a signed integer amount."""

    model_config = ConfigDict(extra="forbid")

    ledger_account_id: Annotated[Text, Field(min_length=3, max_length=300)] = Field(
        description="customer:{account}:{unit}, adjustments:{unit}, expense:program:{id}:{unit},"
        " breakage:program:{id}:{unit} or invoices:applied:{unit}"
    )
    unit: Unit
    amount: Annotated[
        StrictInt,
        Field(
            ge=-MAX_AMOUNT_MINOR,
            le=MAX_AMOUNT_MINOR,
            description="Signed integer minor units, at most 10^15 either way",
        ),
    ]


class AdjustmentIn(BaseModel):
    """A manual adjustment with explicit postings (admin only)."""

    model_config = ConfigDict(extra="forbid")

    postings: list[PostingIn] = Field(min_length=2, max_length=20)
    reason: Text = Field(min_length=1, max_length=500)
    expires_at: Instant | None = Field(
        default=None, description="Required when the adjustment credits a customer (a new lot)"
    )
    program_id: Reference | None = None
    metadata: JsonObject = Field(default_factory=dict)
