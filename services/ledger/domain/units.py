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


SYSTEM_CHAIN = "system"
_ACCOUNT_FORMS = (
    # A unit holds no colon, so an id (an account's or a program's) may: it runs to the last.
    re.compile(r"^customer:(?P<customer>.{1,200}):(?P<unit>[^:]+)$"),
    re.compile(r"^expense:program:(?P<program>.{1,200}):(?P<unit>[^:]+)$"),
    re.compile(r"^breakage:program:(?P<program>.{1,200}):(?P<unit>[^:]+)$"),
    re.compile(r"^invoices:applied:(?P<unit>[^:]+)$"),
    re.compile(r"^adjustments:(?P<unit>[^:]+)$"),
)


def parse_account(ledger_account_id: str) -> dict[str, str] | None:
    """The parts of a ledger account id (kind, unit, customer or program), or None."""
    for form in _ACCOUNT_FORMS:
        match = form.match(ledger_account_id)
        if match and valid_unit(match["unit"]):
            parts = {k: v for k, v in match.groupdict().items() if v is not None}
            parts["kind"] = ledger_account_id.split(":", 1)[0]
            return parts
    return None
