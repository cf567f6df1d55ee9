"""Rollup maintenance: recount after the event map changes."""

from __future__ import annotations

from fastapi import APIRouter

from services.ingest.schemas.rollups import RebuildRequest, RebuildResult
from services.ingest.service import rollups as service
from shared.deps import Admin, Session
from shared.errors import Unprocessable, responses
from shared.json_body import JsonBodyRoute

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1/rollups", tags=["rollups"])


@router.post("/rebuild", responses=responses(Unprocessable))
async def rebuild(body: RebuildRequest, session: Session, principal: Admin) -> RebuildResult:
    """Recount event-derived rollups from stored events under the event map in force.

    Name accounts, or page through all of them: call again with ``after`` set to the
    previous answer's ``next_after`` until it is null.
    """
    return await service.rebuild_rollups(session, body, principal.name)
