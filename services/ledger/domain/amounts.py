"""How large an amount and a balance may be: far past any real credit, far inside bigint.

Every amount a caller writes is at most ``MAX_AMOUNT_MINOR``; every customer balance stays at
most ``MAX_BALANCE_MINOR``. Sums of a thousand of the largest amounts therefore still fit the
database's 64-bit integers (about 9.2e18), so no write or report overflows.
"""

from __future__ import annotations

from shared.contracts import MAX_AMOUNT_MINOR

__all__ = ["MAX_AMOUNT_MINOR", "MAX_BALANCE_MINOR", "BalanceLimit", "check_balance"]
MAX_BALANCE_MINOR = 10**18


class BalanceLimit(ValueError):
    """A transaction would take a customer's balance past ``MAX_BALANCE_MINOR``."""


def check_balance(balance: int) -> None:
    """Refuse a customer balance past the bound."""
    if balance > MAX_BALANCE_MINOR:
        raise BalanceLimit(
            f"would take the balance to {balance}, past the maximum of {MAX_BALANCE_MINOR}"
            " minor units"
        )
