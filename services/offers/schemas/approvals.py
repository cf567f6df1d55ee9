"""The approvals inbox: what waits on approval, and whether the caller may give it."""

from __future__ import annotations

from pydantic import BaseModel, Field

from services.offers.domain.offers import ApprovalSlot
from services.offers.schemas.offers import ApprovalOut, OfferOut
from services.offers.schemas.programs import VersionOut
from shared.contracts import Colour


class PendingOffer(BaseModel):
    """An offer awaiting approval, what it has and lacks, and what the caller may do."""

    offer: OfferOut
    approvals: list[ApprovalOut] = Field(description="The approvals given so far, in order")
    open_slots: list[ApprovalSlot] = Field(description="The slots still waiting for approval")
    may_approve: bool = Field(description="Whether the caller may approve it now")
    slot: ApprovalSlot | None = Field(description="The slot the caller's approval would fill")
    why_not: str | None = Field(description="Why the caller may not approve it, if not")
    reason: str | None = Field(
        description="Why its decision offered it (None once the decision is forgotten)"
    )
    health_colour: Colour | None = Field(
        description="The account's colour in the snapshot decided on (an override's, if any)"
    )
    account_name: str | None = Field(description="The account's name in that snapshot")
    program_name: str | None = Field(description="The name in the offer's program version")
    budget_left_minor: int | None = Field(
        description="The program-wide budget cap of its program version less what the program"
        " commits now; None when that version has no cap"
    )
    age_seconds: int = Field(description="Seconds since it was proposed")


class PendingVersion(BaseModel):
    """A program version awaiting approval to go live, and whether the caller may give it."""

    program_id: str
    version: VersionOut
    live_version: int | None = Field(description="The version that runs now, if any")
    may_approve: bool = Field(description="Whether the caller may approve it now")
    why_not: str | None = Field(description="Why the caller may not approve it, if not")
    changed: list[str] = Field(
        description="Top-level definition fields that differ from the live version's (every"
        " field, for a program never live)"
    )
