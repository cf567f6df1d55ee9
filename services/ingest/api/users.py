"""Users from the CRM."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from services.ingest.api.deps import Reader, Writer
from services.ingest.schemas.users import UserBatch, UserBatchResult, UserFields, UserOut
from services.ingest.service import users as service
from shared.deps import Session
from shared.errors import NotFound, UnknownAccount, Unprocessable, responses
from shared.json_body import JsonBodyRoute
from shared.pagination import Page, PageRequest, paginated
from shared.validation import Instant, PathId, QueryText

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1/users", tags=["users"])
Pages = Annotated[PageRequest[service.Position], Depends(paginated(service.Position))]
UserId = PathId


@router.put("/{external_id}", responses=responses(Unprocessable, UnknownAccount))
async def put_user(
    external_id: UserId, body: UserFields, session: Session, _: Writer, response: Response
) -> UserOut:
    """Create or replace a user; linking it to an account attributes its earlier events."""
    user, created = await service.upsert_user(session, external_id, body)
    response.status_code = 201 if created else 200
    return user


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
    page: Pages,
    account_id: QueryText | None = None,
    updated_since: Annotated[Instant | None, Query()] = None,
) -> Page[UserOut]:
    """Users in order of last update, optionally of one account."""
    return await service.list_users(
        session, page, account_id=account_id, updated_since=updated_since
    )
