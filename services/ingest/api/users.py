"""Users from the CRM."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from services.ingest.repository import users as repo
from services.ingest.schemas import UserBatch, UserBatchResult, UserFields, UserOut
from services.ingest.service import users as service
from shared.auth import Principal, require
from shared.deps import Session
from shared.errors import NotFound, UnknownAccount, Unprocessable, responses
from shared.pagination import Page, PageRequest, paginated
from shared.validation import Instant, PathId, Text

router = APIRouter(prefix="/v1/users", tags=["users"])
Writer = Annotated[Principal, Depends(require("ingest:write"))]
Reader = Annotated[Principal, Depends(require("ingest:read"))]
UserId = PathId
Position = tuple[datetime, str]  # (updated_at, external_id)


@router.put("/{external_id}", responses=responses(Unprocessable, UnknownAccount))
async def put_user(
    external_id: UserId, body: UserFields, session: Session, _: Writer, response: Response
) -> UserOut:
    """Create or replace a user; linking it to an account attributes its earlier events."""
    user, created = await service.upsert_user(session, external_id, body)
    response.status_code = 201 if created else 200
    return UserOut.model_validate(user)


@router.post("/batch", responses=responses(Unprocessable))
async def batch_users(body: UserBatch, session: Session, _: Writer) -> UserBatchResult:
    """Create or replace up to 1,000 users at once; an item linking to an unknown account is
    refused on its own (``rejected``), the others applied. A malformed batch changes nothing."""
    return await service.upsert_users(session, body.users)


@router.get("/{external_id}", responses=responses(NotFound))
async def get_user(external_id: UserId, session: Session, _: Reader) -> UserOut:
    """One user."""
    return await service.get_user(session, external_id)


@router.get("", responses=responses())
async def list_users(
    session: Session,
    _: Reader,
    page: Annotated[PageRequest[Position], Depends(paginated(Position))],
    account_id: Text | None = None,
    updated_since: Annotated[Instant | None, Query()] = None,
) -> Page[UserOut]:
    """Users in order of last update, optionally of one account."""
    rows = await repo.list_users(
        session,
        account_id=account_id,
        updated_since=updated_since,
        after=page.after,
        limit=page.limit + 1,
    )
    return page.page(rows, UserOut.model_validate, lambda r: (r.updated_at, r.external_id))
