"""The audit hash chain: each transaction's hash covers its content and the previous hash.

There is one chain per chain key (a customer's ledger account, or ``system``), so writers on
different customers never wait on a shared chain head.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

GENESIS = "0" * 64


@dataclass(frozen=True)
class ChainedContent:
    """Everything about a transaction that its hash vouches for."""

    id: str
    kind: str
    effective_at: datetime
    chain_key: str
    chain_seq: int
    references: dict[str, Any]
    postings: Sequence[tuple[str, str, int]]
    lot_movements: Sequence[tuple[str, int]]


def canonical(content: ChainedContent) -> bytes:
    """A byte-exact rendering: sorted keys, sorted postings, UTC microseconds."""
    doc = {
        "id": content.id,
        "kind": content.kind,
        "effective_at": content.effective_at.isoformat(timespec="microseconds"),
        "chain": [content.chain_key, content.chain_seq],
        "references": {k: v for k, v in content.references.items() if v is not None},
        "postings": sorted([list(p) for p in content.postings]),
        "lots": sorted([list(m) for m in content.lot_movements]),
    }
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def chain_hash(previous: str, content: ChainedContent) -> str:
    """SHA-256 over the previous hash and this transaction's canonical content."""
    return hashlib.sha256(previous.encode() + b"\n" + canonical(content)).hexdigest()
