"""What offers asks of the ledger (``offer.grant_requested``, ``offer.revoke_requested``),
delivered by offers' outbox.

A grant request is a grant through the same write path as ``POST /v1/grants``, under
``grant_idempotency_key(offer_id)`` and one principal for every offer (``OFFERS_PRINCIPAL``,
whoever's key delivers it), so a repeat, under the same message id or a new one, grants
nothing more and is acknowledged. A revoke reverses what is left unredeemed of the offer's
grant, and is kept: a grant request for a revoked offer, arriving before or after the revoke,
grants nothing and is acknowledged. The offers a delivery names are locked for its
transaction, so a grant and a revoke of one offer never pass each other.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from services.ledger.domain.offers import grant_of, problem_errors
from services.ledger.domain.writes import Outcome, WriteOp
from services.ledger.group_writer import GroupWriter
from services.ledger.models import Inbox
from services.ledger.repository import offers as repo
from services.ledger.schemas import GrantIn, ReversalIn
from shared.auth import Principal
from shared.contracts import GRANT_REQUESTED, REVOKE_REQUESTED, GrantRequested, RevokeRequested
from shared.errors import FieldError, RetryLater, Unprocessable, problem_type
from shared.logging import current_request_id
from shared.outbox import (
    Delivery,
    DeliveryAck,
    Message,
    acknowledgement,
    check_senders,
    fresh_messages,
    read_topics,
    record_new,
)
from shared.settings import service_principal

# Offers' grants and revokes are keyed under this principal, whoever's key delivered them: a
# message an admin redelivers by hand finds the grant the dispatcher's delivery made.
OFFERS_PRINCIPAL = "offers"
_log = structlog.get_logger("tenure.ledger.offers")


@dataclass(frozen=True)
class _Caller:
    """Who delivered, and where: what each write is made with."""

    scopes: frozenset[str]
    instance: str

    def op(self, body: WriteOp.Body, key: str) -> WriteOp:
        return WriteOp(
            body, OFFERS_PRINCIPAL, key, self.instance, current_request_id(), self.scopes
        )


# Only offers' own key asks for grants and revokes (an admin may act for it).
SENDERS = {
    GRANT_REQUESTED: service_principal("offers"),
    REVOKE_REQUESTED: service_principal("offers"),
}


async def receive(
    session: AsyncSession,
    writer: GroupWriter,
    principal: Principal,
    delivery: Delivery,
    instance: str,
) -> DeliveryAck:
    """Apply the grant and revoke requests of messages not seen before, in delivery order; a
    message of another topic is acknowledged and ignored. A message that does not read as
    the contract says, or whose grant the ledger refuses (an expiry already past, say), is
    refused (422 pointing into it, so the sender parks it alone)."""
    check_senders(delivery, principal.name, principal.allows("admin"), SENDERS)
    read = read_topics(
        delivery, {GRANT_REQUESTED: GrantRequested, REVOKE_REQUESTED: RevokeRequested}
    )
    position = {id(m): i for i, m in enumerate(delivery.messages)}
    new = await record_new(session, Inbox, delivery.messages)
    fresh = fresh_messages(delivery.messages, new)
    taken = {id(m) for m in fresh}
    todo = [(m, request) for m, request in read if id(m) in taken]
    if todo:
        caller = _Caller(principal.scopes, instance)
        errors = await _apply(session, writer, caller, todo, position)
        if errors:
            raise Unprocessable(
                f"{len({(e.pointer or '').split('/')[2] for e in errors})} grant request(s)"
                " the ledger cannot post.",
                errors=errors,
            )
    return acknowledgement(delivery.messages, fresh)


async def _apply(
    session: AsyncSession,
    writer: GroupWriter,
    caller: _Caller,
    todo: Sequence[tuple[Message, BaseModel]],
    position: dict[int, int],
) -> list[FieldError]:
    """Grants go to the writer together, up to the next revoke (which must see them). A
    grant the ledger could not hold is refused before anything is written."""
    posts: dict[int, tuple[str, GrantIn]] = {}
    errors: list[FieldError] = []
    now = datetime.now(UTC)  # a credit lasts from its grant, however late the request came
    for message, request in todo:
        if isinstance(request, GrantRequested):
            key, grant = grant_of(position[id(message)], request, now)
            if isinstance(grant, list):
                errors.extend(grant)
            else:
                posts[id(message)] = (key, grant)
    if errors:
        return errors
    offer_ids = [
        request.offer_id
        for _, request in todo
        if isinstance(request, GrantRequested | RevokeRequested)
    ]
    await repo.lock_offers(session, offer_ids)
    revoked = await repo.revoked_among(session, offer_ids)
    grants: list[tuple[int, WriteOp]] = []
    for message, request in todo:
        if isinstance(request, GrantRequested):
            if request.offer_id in revoked:
                _log.info("grant_of_revoked_offer_ignored", offer_id=request.offer_id)
                continue
            key, grant = posts[id(message)]
            grants.append((position[id(message)], caller.op(grant, key)))
        elif isinstance(request, RevokeRequested):
            errors.extend(await _grant(writer, grants))
            grants = []
            await _revoke(session, writer, caller, message.id, request)
            revoked.add(request.offer_id)
    errors.extend(await _grant(writer, grants))
    return errors


_IN_FLIGHT = problem_type("key-in-flight")
_REUSED = problem_type("key-reused")
_NOT_REVERSIBLE = problem_type("not-reversible")


def _problem_type(outcome: Outcome) -> str | None:
    body = outcome.body
    return body.get("type") if outcome.status >= 400 and isinstance(body, dict) else None


async def _grant(writer: GroupWriter, grants: Sequence[tuple[int, WriteOp]]) -> list[FieldError]:
    """Post grants in one group; what refused ones point at (a grant already made under the
    offer's key, even on other terms, is the offer's one grant: nothing more to do)."""
    if not grants:
        return []
    errors: list[FieldError] = []
    results = await writer.apply([op for _, op in grants])
    for (index, op), result in zip(grants, results, strict=True):
        if isinstance(result, Exception):
            raise result
        kind = _problem_type(result)
        if kind is None:
            continue
        if kind == _IN_FLIGHT:
            raise RetryLater(f"The grant of offer {op.key!r} is still being written; retry.")
        if kind == _REUSED:
            _log.warning("offer_already_granted_on_other_terms", key=op.key)
            continue
        errors.extend(problem_errors(index, result.body))
    return errors


async def _revoke(
    session: AsyncSession,
    writer: GroupWriter,
    caller: _Caller,
    message_id: uuid.UUID,
    request: RevokeRequested,
) -> None:
    """Keep the offer as revoked and reverse what is left of its grant (nothing left, or no
    grant yet, is not an error: the revocation stands for a grant that comes later)."""
    await repo.record_revocation(session, message_id, request)
    grant_ids = await repo.grants_of(session, request.offer_id)
    if not grant_ids:
        _log.info("offer_revoked_before_any_grant", offer_id=request.offer_id)
    ops = [
        caller.op(ReversalIn(transaction_id=g, reason=request.reason), f"revoke:{g}")
        for g in grant_ids
    ]
    for op, result in zip(ops, await writer.apply(ops) if ops else [], strict=True):
        if isinstance(result, Exception):
            raise result
        kind = _problem_type(result)
        if kind == _IN_FLIGHT:
            raise RetryLater(f"The revoke of offer {request.offer_id!r} is in progress; retry.")
        if kind is not None and kind not in (_REUSED, _NOT_REVERSIBLE):
            raise RetryLater(f"The revoke of offer {request.offer_id!r} failed: {kind}.")
        _log.info(
            "offer_revoked",
            offer_id=request.offer_id,
            grant_id=str(op.body.transaction_id) if isinstance(op.body, ReversalIn) else None,
            outcome=kind or "reversed",
        )
