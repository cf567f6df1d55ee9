"""Accounts from the CRM."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from services.ingest.api.deps import Reader, Writer
from services.ingest.schemas.accounts import AccountBatch, AccountIn, AccountOut
from services.ingest.schemas.batches import BatchUpsertResult
from services.ingest.schemas.history import AccountHistoryPage
from services.ingest.service import accounts as service
from services.ingest.service import outcomes as outcomes_service
from services.ingest.service import revenue as revenue_service
from shared.contracts import AccountStatus, MotionSegment, MrrAnswer, MrrQuery
from shared.deps import Session
from shared.errors import (
    BadRequest,
    ConstraintViolated,
    Duplicate,
    NotFound,
    Unprocessable,
    responses,
)
from shared.json_body import JsonBodyRoute
from shared.pagination import Page, PageRequest, paginated
from shared.validation import Instant, PathId

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1/accounts", tags=["accounts"])
Pages = Annotated[PageRequest[service.Position], Depends(paginated(service.Position))]
HistoryPages = Annotated[
    PageRequest[outcomes_service.HistoryPosition],
    Depends(paginated(outcomes_service.HistoryPosition)),
]
AccountId = PathId


@router.put("/{external_id}", responses=responses(Unprocessable, Duplicate, ConstraintViolated))
async def put_account(
    external_id: AccountId, body: AccountIn, session: Session, _: Writer, response: Response
) -> AccountOut:
    """Create or replace an account (201 when created, 200 when replaced)."""
    account, created = await service.upsert_account(session, external_id, body)
    response.status_code = 201 if created else 200
    return account


@router.post("/batch", responses=responses(Unprocessable, Duplicate, ConstraintViolated))
async def batch_accounts(body: AccountBatch, session: Session, _: Writer) -> BatchUpsertResult:
    """Create or replace up to 1,000 accounts at once, all or nothing."""
    return await service.upsert_accounts(session, body.accounts)


@router.post("/mrr", responses=responses(Unprocessable))
async def mrr_at(body: MrrQuery, session: Session, _: Reader) -> MrrAnswer:
    """The MRR, currency and status in force for up to 1,000 accounts at up to 10 instants
    each, from the account history (null before an account's history begins, and for an
    account ingest does not know)."""
    return await revenue_service.mrr_at(session, body)


@router.get("/{external_id}", responses=responses(NotFound))
async def get_account(external_id: AccountId, session: Session, _: Reader) -> AccountOut:
    """One account."""
    return await service.get_account(session, external_id)


@router.get("/{external_id}/history", responses=responses(BadRequest, NotFound))
async def get_account_history(
    external_id: AccountId, session: Session, _: Reader, page: HistoryPages
) -> AccountHistoryPage:
    """The account's fact changes, oldest first (by effective time), and the outcomes of its
    passed renewal dates."""
    return await outcomes_service.account_history(session, external_id, page)


@router.get("", responses=responses())
async def list_accounts(
    session: Session,
    _: Reader,
    page: Pages,
    status: AccountStatus | None = None,
    motion_segment: MotionSegment | None = None,
    updated_since: Annotated[Instant | None, Query()] = None,
) -> Page[AccountOut]:
    """Accounts in order of last update, filtered by status, motion segment, update time."""
    return await service.list_accounts(
        session, page, status=status, motion_segment=motion_segment, updated_since=updated_since
    )
