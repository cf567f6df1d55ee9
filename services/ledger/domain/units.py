"""Units a ledger amount can be in: ISO currencies (minor units) or named non-money units."""

from __future__ import annotations

import re

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_NAMED = re.compile(r"^[a-z][a-z0-9_]{3,39}$")  # 4+ characters: never confused with a currency


def valid_unit(unit: str) -> bool:
    """``USD``, ``EUR``... (amounts in minor units), or a named unit like ``training_hours``."""
    return bool(_CURRENCY.match(unit) or _NAMED.match(unit))


def customer_account(account_id: str, unit: str) -> str:
    """The ledger account holding a customer's credit in ``unit`` (a liability)."""
    return f"customer:{account_id}:{unit}"


def expense_account(program_id: str, unit: str) -> str:
    """Incentive expense of one program."""
    return f"expense:program:{program_id}:{unit}"


def breakage_account(program_id: str, unit: str) -> str:
    """Income from a program's credits that expired unused."""
    return f"breakage:program:{program_id}:{unit}"


def invoices_account(unit: str) -> str:
    """Credits applied to invoices."""
    return f"invoices:applied:{unit}"


def adjustments_account(unit: str) -> str:
    """The counterpart of manual adjustments."""
    return f"adjustments:{unit}"
