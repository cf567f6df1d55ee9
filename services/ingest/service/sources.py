"""Sources: Segment write keys and webhook signing secrets."""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.models import Source
from services.ingest.repository import sources as sources_repo
from services.ingest.schemas.sources import (
    SourceCreate,
    SourceListed,
    SourceOut,
    SourceWithSecret,
)
from services.ingest.service.audit import record
from shared.auth import hash_key
from shared.errors import Conflict, NotFound
from shared.pagination import Page, PageRequest

Position = tuple[datetime, uuid.UUID]  # (created_at, id)


def _new_secret(kind: str) -> tuple[str | None, str | None]:
    """(write key, signing secret) for a source of ``kind``."""
    if kind == "segment":
        return "wk_" + secrets.token_urlsafe(24), None
    # Both kinds use whsec_<base64> secrets (Standard Webhooks decodes the base64 part).
    return None, "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


async def create_source(
    session: AsyncSession, body: SourceCreate, principal: str
) -> SourceWithSecret:
    """A new source with a fresh write key or signing secret, shown this once; recorded as
    ``principal``'s change."""
    write_key, signing_secret = _new_secret(body.kind)
    source = Source(
        id=uuid.uuid4(),
        kind=body.kind,
        name=body.name,
        write_key_hash=hash_key(write_key) if write_key else None,
        signing_secret=signing_secret,
    )
    await sources_repo.add_source(session, source)
    _record(session, principal, "source.created", source)
    return SourceWithSecret.model_validate(
        {**_source_dict(source), "write_key": write_key, "signing_secret": signing_secret}
    )


async def rotate_source(
    session: AsyncSession, source_id: uuid.UUID, principal: str
) -> SourceWithSecret:
    """A new secret for a source; a webhook source's previous secret stays valid for the
    grace period (``webhook_secret_grace_seconds``), a write key's not at all. Recorded as
    ``principal``'s change."""
    source = await sources_repo.get_source(session, source_id)
    if source is None:
        raise NotFound(f"No source {source_id}.")
    if source.disabled_at is not None:
        raise Conflict("The source is disabled.")
    write_key, signing_secret = _new_secret(source.kind)
    if write_key:
        source.write_key_hash = hash_key(write_key)
    else:
        source.previous_signing_secret = source.signing_secret
        source.signing_secret = signing_secret
    source.rotated_at = datetime.now(UTC)
    await session.flush()
    _record(session, principal, "source.rotated", source)
    return SourceWithSecret.model_validate(
        {**_source_dict(source), "write_key": write_key, "signing_secret": signing_secret}
    )


async def disable_source(session: AsyncSession, source_id: uuid.UUID, principal: str) -> SourceOut:
    """Stop accepting anything from a source, recorded as ``principal``'s change (disabling
    twice keeps the first time, and records nothing more)."""
    source = await sources_repo.disable_source(session, source_id)
    if source is not None:
        _record(session, principal, "source.disabled", source)
        return SourceOut.model_validate(source)
    existing = await sources_repo.get_source(session, source_id)
    if existing is None:
        raise NotFound(f"No source {source_id}.")
    return SourceOut.model_validate(existing)


def _record(session: AsyncSession, principal: str, kind: str, source: Source) -> None:
    record(session, principal, kind, str(source.id), {"kind": source.kind, "name": source.name})


def _source_dict(source: Source) -> dict[str, Any]:
    return {
        "id": source.id,
        "kind": source.kind,
        "name": source.name,
        "disabled_at": source.disabled_at,
        "created_at": source.created_at,
        "rotated_at": source.rotated_at,
    }


# The windows a source's activity is counted over (GET /v1/sources).
ACTIVITY_DAY = timedelta(hours=24)
ACTIVITY_WEEK = timedelta(days=7)


async def list_sources(session: AsyncSession, page: PageRequest[Position]) -> Page[SourceListed]:
    """Every source, oldest first, each with its last event and counts (two queries a page:
    the sources, then their activity)."""
    rows = await sources_repo.list_sources(session, after=page.after, limit=page.limit + 1)
    now = datetime.now(UTC)
    activity = await sources_repo.source_activity(
        session,
        [r.id for r in rows[: page.limit]],
        day=now - ACTIVITY_DAY,
        week=now - ACTIVITY_WEEK,
    )

    def listed(source: Source) -> SourceListed:
        last, day, week, rejected = activity.get(source.id, (None, 0, 0, 0))
        return SourceListed.model_validate(
            {
                **_source_dict(source),
                "last_event_at": last,
                "events_24h": day,
                "events_7d": week,
                "rejected_24h": rejected,
            }
        )

    return page.page(rows, listed, lambda r: (r.created_at, r.id))
