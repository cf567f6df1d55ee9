"""One keyed write (a grant, redemption, reversal or adjustment) through the group writer."""

from __future__ import annotations

from services.ledger.domain.writes import Outcome, WriteOp
from services.ledger.group_writer import GroupWriter
from shared.auth import Principal
from shared.logging import current_request_id


async def write(
    writer: GroupWriter, principal: Principal, key: str, instance: str, body: WriteOp.Body
) -> Outcome:
    """Apply one write once per key: its outcome (kept under the key), or its refusal raised.

    A repeat of the key is answered with the first response (``Outcome.replayed``).
    """
    op = WriteOp(body, principal.name, key, instance, current_request_id(), principal.scopes)
    outcome = await writer.submit(op)
    if outcome.refusal is not None:
        raise outcome.refusal
    return outcome
