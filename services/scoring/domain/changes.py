"""Which accounts a batch of notifications says have changed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

ACCOUNTS_CHANGED = "accounts.changed"


def changed_accounts(payloads: Iterable[tuple[str, Mapping[str, Any]]]) -> Counter[str]:
    """How many notifications named each account, over ``accounts.changed`` messages.

    Messages of other topics are ignored; non-string ids are skipped rather than trusted.
    """
    counts: Counter[str] = Counter()
    for topic, payload in payloads:
        if topic != ACCOUNTS_CHANGED:
            continue
        ids = payload.get("account_ids", ())
        if not isinstance(ids, list):
            continue
        counts.update(i for i in ids if isinstance(i, str) and 0 < len(i) <= 200)
    return counts
