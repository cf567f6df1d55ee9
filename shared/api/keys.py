"""API key administration, served by every service (one key store for the platform)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared import key_audit
from shared.api.audit import audit_router
from shared.auth import (
    SCOPES,
    bearer_token,
    check_principal_name,
    create_key,
    list_keys,
    revoke_key,
)
from shared.deps import Admin, Session
from shared.errors import NotFound, Unprocessable, responses
from shared.json_body import JsonBodyRoute
from shared.pagination import Page, PageRequest, paginated
from shared.validation import Text

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1/api-keys", tags=["api keys"])
audit = audit_router(
    "admin",
    key_audit.Position,
    key_audit.list_key_audit,
    "Keys made and ended, newest first, by whom: `key.created`/`key.revoked` (the admin API,"
    " by the admin key's principal; `tenure` for the operator's command line and start-up),"
    " `session.started`/`session.ended` (a console sign-in and sign-out, by the person)."
    " Narrowed by `principal` (who did it) and `from`/`to`.",
    prefix="/v1/api-keys/audit",
)
Position = tuple[datetime, uuid.UUID]  # (created_at, id)


class KeyCreate(BaseModel):
    """A key to create."""

    # A field the API does not take is refused by name, never dropped: a client asking for
    # ``expires_at`` must not get a key that never expires without a word.
    model_config = ConfigDict(extra="forbid")

    principal: Text = Field(min_length=1, max_length=200, description="Who the key is for")
    # The enum is documented (so clients and the fuzzer know the values); unknown scopes are
    # refused by validate_scopes, naming the field as a whole.
    scopes: list[str] = Field(
        min_length=1,
        description=f"Any of: {', '.join(SCOPES)}",
        json_schema_extra={"items": {"type": "string", "enum": list(SCOPES)}},
    )

    @field_validator("principal")
    @classmethod
    def _a_name_of_its_own(cls, principal: str) -> str:
        return check_principal_name(principal)


class KeyOut(BaseModel):
    """A key as listed: never its secret."""

    id: uuid.UUID
    display_prefix: str
    principal: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    expires_at: datetime | None = Field(description="A console session's key ends then")
    created_by: str | None = Field(description="Who made it; null if made before this was kept")
    revoked_by: str | None = Field(description="Who revoked it")


class KeyCreated(KeyOut):
    """A newly created key, with its secret shown this once."""

    key: str


@router.post("", status_code=201, responses=responses(Unprocessable))
async def create(body: KeyCreate, request: Request, session: Session, _: Admin) -> KeyCreated:
    """Create a key; its secret is in this response only."""
    # The service's database role may not write keys: the caller's admin key vouches.
    admin_key = bearer_token(request) or ""
    key, raw = await create_key(session, body.principal, body.scopes, admin_key=admin_key)
    await session.refresh(key)
    return KeyCreated(**KeyOut.model_validate(key, from_attributes=True).model_dump(), key=raw)


@router.get("", responses=responses())
async def list_api_keys(
    session: Session, _: Admin, page: Annotated[PageRequest[Position], Depends(paginated(Position))]
) -> Page[KeyOut]:
    """Every key, newest last."""
    rows = await list_keys(session, after=page.after, limit=page.limit + 1)
    return page.page(
        rows,
        lambda r: KeyOut.model_validate(r, from_attributes=True),
        lambda r: (r.created_at, r.id),
    )


@router.delete("/{key_id}", responses=responses(NotFound))
async def revoke(key_id: uuid.UUID, request: Request, session: Session, _: Admin) -> KeyOut:
    """Revoke a key; it stops working within the services' key cache time."""
    key = await revoke_key(session, key_id, admin_key=bearer_token(request) or "")
    if key is None:
        raise NotFound(f"No API key {key_id}.")
    return KeyOut.model_validate(key, from_attributes=True)
