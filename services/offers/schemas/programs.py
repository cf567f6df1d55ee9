"""Programs' bodies: a definition in, a program with its versions out."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.offers.domain.programs import ProgramDefinition, ProgramStatus
from shared.validation import INT32_MAX, Text

VersionState = Literal["pending", "live", "superseded"]


class VersionOut(BaseModel):
    """One version of a program's definition: who wrote it, who approved it, and its state."""

    model_config = ConfigDict(from_attributes=True)

    version: int
    state: VersionState
    definition: ProgramDefinition
    created_by: str
    created_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    comment: str | None = Field(description="The approver's comment")


class ProgramOut(BaseModel):
    """A program: its status, the version that runs (``live``) and the one awaiting approval
    (``pending``), either of which may be absent."""

    id: str
    status: ProgramStatus
    default_key: str | None = Field(description="The shipped default it was made from, if any")
    live_version: int | None
    latest_version: int
    live: VersionOut | None
    pending: VersionOut | None
    created_by: str
    created_at: datetime
    updated_at: datetime


class ApproveIn(BaseModel):
    """Approve a pending version, so it goes live."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=INT32_MAX, strict=True)
    comment: Text | None = Field(default=None, max_length=2000)


class StatusIn(BaseModel):
    """Move a program to another status, saying why."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["active", "paused", "archived"]
    reason: Text = Field(min_length=1, max_length=2000)


class ProgramEventOut(BaseModel):
    """One step in a program's story: created, edited, approved, or a status change."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    event: Literal["created", "edited", "approved", "status"]
    principal: str
    version: int | None
    status: ProgramStatus = Field(description="The program's status after the event")
    reason: str | None
