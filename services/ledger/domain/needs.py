"""What a write group must create, lock and load before its writes can be planned."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.ledger.domain.amounts import MAX_BALANCE_MINOR
from services.ledger.domain.book import TxRow, chain_of
from services.ledger.domain.planning import expiry_problem
from services.ledger.domain.units import (
    SYSTEM_CHAIN,
    breakage_account,
    customer_account,
    expense_account,
    invoices_account,
    parse_account,
)
from services.ledger.domain.writes import Expiry, WriteOp
from services.ledger.schemas import AdjustmentIn, GrantIn, RedemptionIn, ReversalIn


@dataclass
class Needs:
    """What a group must create, lock and load before its writes can be planned."""

    heads: set[str] = field(default_factory=set)
    # FIFO accounts: how much the group may take from each (the lots that cover it load).
    fifo: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    due: dict[str, datetime] = field(default_factory=dict)
    lots_created_by: set[uuid.UUID] = field(default_factory=set)
    lot_ids: set[uuid.UUID] = field(default_factory=set)
    reversal_of: set[uuid.UUID] = field(default_factory=set)


def accounts_of(op: WriteOp, now: datetime) -> list[dict[str, Any]]:
    """The ledger accounts a write posts to that may not exist yet (created up front)."""
    body = op.body
    if isinstance(body, GrantIn):
        if expiry_problem(body.expires_at, now):
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


def add_needs(op: WriteOp, originals: dict[uuid.UUID, TxRow], needs: Needs) -> None:
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
            needs.heads.add(chain_of(original))
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
