"""Which accounts a batch of notifications says have changed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from shared.contracts import AccountsChanged


def changed_accounts(payloads: Iterable[tuple[str, Mapping[str, Any]]]) -> Counter[str]:
    """How many notifications named each account, over ``accounts.changed`` messages.

    Messages of other topics, and malformed ones (the contract's ``AccountsChanged`` decides),
    are ignored whole rather than trusted in part.
    """
    counts: Counter[str] = Counter()
    for topic, payload in payloads:
        message = AccountsChanged.read(topic, payload)
        if message is not None:
            counts.update(message.account_ids)
    return counts
