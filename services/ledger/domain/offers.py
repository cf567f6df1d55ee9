"""How offers' requests read as ledger writes, free of I/O: a grant request is a grant under
the offer's key, a problem with that grant points back into the message that asked for it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from services.ledger.schemas import GrantIn
from shared.contracts import GrantRequested, grant_idempotency_key
from shared.errors import FieldError

# The grant's fields that the message names otherwise.
_MESSAGE_FIELDS = {"amount": "amount_minor"}


def message_pointer(index: int, grant_pointer: str | None) -> str:
    """Where a problem with a grant's field (``/amount``) is in the delivery that asked for
    it (``/messages/3/payload/amount_minor``)."""
    parts = (grant_pointer or "").strip("/").split("/", 1)
    parts[0] = _MESSAGE_FIELDS.get(parts[0], parts[0])
    path = "/".join(p for p in parts if p)
    return f"/messages/{index}/payload" + (f"/{path}" if path else "")


def grant_of(
    index: int, request: GrantRequested, now: datetime
) -> tuple[str, GrantIn | list[FieldError]]:
    """The key and the grant a grant request asks for, or what keeps the ledger from posting
    it (pointing into message ``index``): a value the ledger cannot hold."""
    key = grant_idempotency_key(request.offer_id)  # the contract bounds it to fit
    try:
        grant = GrantIn(
            account_id=request.account_id,
            unit=request.unit,
            amount=request.amount_minor,
            expires_at=now + request.lasts,
            program_id=request.program_id,
            offer_id=request.offer_id,
            tier=request.tier,
            metadata={"approved_at": request.approved_at.isoformat()},
        )
    except ValidationError as exc:
        return key, [
            FieldError(
                detail=e["msg"],
                pointer=message_pointer(index, "/" + "/".join(str(p) for p in e["loc"])),
            )
            for e in exc.errors(include_url=False)
        ]
    return key, grant


def problem_errors(index: int, problem: dict[str, Any]) -> list[FieldError]:
    """A refused grant's problem document, as errors pointing into message ``index``."""
    listed = problem.get("errors") or [{"detail": problem.get("detail") or "refused"}]
    return [
        FieldError(detail=str(e.get("detail")), pointer=message_pointer(index, e.get("pointer")))
        for e in listed
    ]
