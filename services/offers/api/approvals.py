"""The approvals inbox: what waits on approval, and whether the caller may give it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends

from services.offers.api.deps import Reader
from services.offers.schemas.approvals import PendingOffer, PendingVersion
from services.offers.service import approvals as service
from shared.deps import Session
from shared.errors import BadRequest, Unprocessable, responses
from shared.json_body import JsonBodyRoute
from shared.pagination import Page, PageRequest, paginated
from shared.validation import QueryText

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1/approvals", tags=["approvals"])
OfferPages = Annotated[
    PageRequest[service.OfferPosition], Depends(paginated(service.OfferPosition))
]
VersionPages = Annotated[
    PageRequest[service.VersionPosition], Depends(paginated(service.VersionPosition))
]


@router.get("/offers", responses=responses(BadRequest, Unprocessable))
async def pending_offers(
    session: Session,
    principal: Reader,
    page: OfferPages,
    mine: bool = False,
    program_id: QueryText | None = None,
) -> Page[PendingOffer]:
    """Offers awaiting approval, oldest first: the approvals given and the slots open, why
    the decision offered it, the account's colour, the budget its program has left, and
    whether the caller may approve it now (the slot it would fill, or why not). With
    ``mine=true`` only those the caller may approve now, found by looking through at most
    5,000 pending offers a page: such a page may hold fewer than
    ``limit`` items (even none) before the list ends, which is when ``next_cursor`` is
    null. ``program_id`` keeps one program's."""
    return await service.pending_offers(
        session, principal, mine, page, datetime.now(UTC), program_id=program_id
    )


@router.get("/programs", responses=responses(BadRequest, Unprocessable))
async def pending_versions(
    session: Session, principal: Reader, page: VersionPages
) -> Page[PendingVersion]:
    """Program versions awaiting approval to go live, oldest first: the top-level fields
    each changes from the live version, and whether the caller may approve it (the
    ``offers:approve`` scope, neither its author nor the program's owner) or why not."""
    return await service.pending_versions(session, principal, page)
