"""The snapshots offers has kept of what scoring announced."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from services.offers.api.deps import Reader
from services.offers.schemas.snapshots import KeptSnapshot
from services.offers.service import snapshots as service
from shared.deps import Session
from shared.errors import NotScored, responses
from shared.json_body import JsonBodyRoute
from shared.pagination import Page, PageRequest, paginated
from shared.validation import PathId

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1", tags=["snapshots"])
Pages = Annotated[PageRequest[service.Position], Depends(paginated(service.Position))]


@router.get("/snapshots", responses=responses())
async def list_snapshots(session: Session, _: Reader, page: Pages) -> Page[KeptSnapshot]:
    """The newest snapshot heard of for each account, by account id."""
    return await service.list_snapshots(session, page)


@router.get("/snapshots/{account_id}", responses=responses(NotScored))
async def get_snapshot(account_id: PathId, session: Session, _: Reader) -> KeptSnapshot:
    """The newest snapshot heard of for an account, and what changed in it."""
    return await service.get_snapshot(session, account_id)
