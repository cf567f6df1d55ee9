"""Which accounts a batch of notifications says have changed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from shared.contracts import AccountsChanged


def changed_accounts(messages: Iterable[AccountsChanged]) -> Counter[str]:
    """How many of the messages named each account."""
    counts: Counter[str] = Counter()
    for message in messages:
        counts.update(message.account_ids)
    return counts
