"""Scores: each account's snapshot, lists by filter, daily history and colour overrides."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from services.scoring.api.deps import Reader, Writer
from services.scoring.repository.snapshots import ScoreFilters
from services.scoring.schemas.scores import OverrideIn, OverrideOut, ScoreHistoryOut
from services.scoring.service import overrides as overrides_service
from services.scoring.service import scores as service
from shared.contracts import Colour, MotionSegment, Segment, Snapshot, Tier
from shared.deps import Session
from shared.errors import NotScored, Unprocessable, responses
from shared.json_body import JsonBodyRoute
from shared.pagination import Page, PageRequest, paginated
from shared.validation import PathId, QueryText

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1/scores", tags=["scores"])
Pages = Annotated[PageRequest[service.Position], Depends(paginated(service.Position))]
Health = Annotated[float | None, Query(ge=0, le=100, allow_inf_nan=False)]
# A query string is text: the window's days are read as text and then as the number.
Window = Annotated[Literal["120", "90", "60"] | None, Query(description="120, 90 or 60")]


@router.get("", responses=responses(Unprocessable))
async def list_scores(
    session: Session,
    _: Reader,
    page: Pages,
    colour: Colour | None = None,
    segment: Segment | None = None,
    tier: Tier | None = None,
    motion: MotionSegment | None = None,
    renewal_window: Window = None,
    health_below: Health = None,
    health_above: Health = None,
    q: Annotated[
        QueryText | None, Query(description="Part of the account id or name, any case")
    ] = None,
) -> Page[Snapshot]:
    """Snapshots by account id, filtered by colour in force, segment, tier, motion segment,
    renewal window (120, 90, 60), health score (strictly below / above) and part of the
    account id or name (``q``, any case, as typed: ``%`` and ``_`` are not wildcards)."""
    filters = ScoreFilters(
        colour=colour,
        segment=segment,
        tier=tier,
        motion=motion,
        renewal_window=int(renewal_window) if renewal_window else None,
        health_below=health_below,
        health_above=health_above,
        search=q.strip() if q and q.strip() else None,
    )
    return await service.list_scores(session, filters, page)


@router.get("/{account_id}", responses=responses(NotScored))
async def get_score(account_id: PathId, session: Session, _: Reader) -> Snapshot:
    """An account's snapshot: every measure's raw value, sub-score, weight and contribution,
    the drivers pulling it down, RFM, segment and its rule, tier, renewal, milestones."""
    return await service.get_score(session, account_id, datetime.now(UTC))


@router.get("/{account_id}/history", responses=responses(NotScored, Unprocessable))
async def get_history(
    account_id: PathId,
    session: Session,
    _: Reader,
    days: Annotated[int, Query(ge=1, le=400)] = 90,
) -> ScoreHistoryOut:
    """An account's score on each of the last ``days`` days it was scored."""
    return await service.score_history(session, account_id, days, datetime.now(UTC))


@router.post("/{account_id}/override", responses=responses(NotScored, Unprocessable))
async def set_override(
    account_id: PathId, body: OverrideIn, session: Session, principal: Writer
) -> Snapshot:
    """Override the account's colour with a reason until ``expires_at`` (then it lapses by
    itself); the snapshot shows the computed and the overriding colour."""
    return await overrides_service.set_override(
        session, account_id, body, principal.name, datetime.now(UTC)
    )


@router.delete("/{account_id}/override", responses=responses(NotScored))
async def clear_override(account_id: PathId, session: Session, principal: Writer) -> Snapshot:
    """End the account's override now."""
    return await overrides_service.clear_override(
        session, account_id, principal.name, datetime.now(UTC)
    )


@router.get("/{account_id}/overrides", responses=responses())
async def list_overrides(account_id: PathId, session: Session, _: Reader) -> list[OverrideOut]:
    """Every override the account has had, newest first, with who set and ended each."""
    return await overrides_service.list_overrides(session, account_id)
