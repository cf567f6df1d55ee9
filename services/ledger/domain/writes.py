"""What a ledger write is (its body, caller and key) and what it answered, free of I/O."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel

from services.ledger.schemas import AdjustmentIn, GrantIn, RedemptionIn, ReversalIn
from shared.errors import TenureError, problem_body


@dataclass(frozen=True)
class Expiry:
    """Sweep one ledger account's lots past ``as_of`` to breakage (no key: it is idempotent)."""

    ledger_account_id: str
    unit: str
    programs: list[str | None]
    as_of: datetime


@dataclass(frozen=True)
class WriteOp:
    """One write, and the caller's key it runs under (expiry sweeps have none)."""

    Body = GrantIn | RedemptionIn | ReversalIn | AdjustmentIn | Expiry

    body: Body
    principal: str = ""
    key: str | None = None
    instance: str = ""
    request_id: str | None = None
    # The caller's scopes, for the rules that depend on what a write touches.
    scopes: frozenset[str] = frozenset()

    @property
    def operation(self) -> str:
        """The name that goes into the request's fingerprint."""
        return _OPERATIONS[type(self.body)]

    def fingerprint(self) -> str:
        """What makes two requests 'the same request' under one key."""
        body = self.body.model_dump(mode="json") if isinstance(self.body, BaseModel) else {}
        doc = orjson.dumps({"operation": self.operation, "body": body}, option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(doc).hexdigest()


_OPERATIONS: dict[type, str] = {
    GrantIn: "grant",
    RedemptionIn: "redemption",
    ReversalIn: "reverse",
    AdjustmentIn: "adjustment",
    Expiry: "expiry",
}


@dataclass(frozen=True)
class Outcome:
    """What one write answered, and the refusal to raise if it was one."""

    status: int
    body: Any
    refusal: TenureError | None = None
    # The response kept under the key from an earlier request, sent again.
    replayed: bool = False


def refused(error: TenureError, op: WriteOp) -> Outcome:
    """A refusal as the write's outcome: its status and problem document."""
    return Outcome(error.status_code, problem_body(error, op.instance, op.request_id), error)
