"""What waits on whose approval, and why someone may not give it: the approvals inbox.

Pure rules over what the inbox reads: whether a principal may approve an offer now (the
approve endpoint's rules, ``offers.slot_for``, plus a program archived since), whether they
may put a program version live (the scope ``ProgramApprover`` takes, then
``program_changes.approval_refusal``), what a version changes, and what a budget has left.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.offers.domain.offers import (
    APPROVE_SCOPE,
    ApprovalNeeds,
    ApprovalRefused,
    ApprovalSlot,
    slot_for,
)
from services.offers.domain.program_changes import approval_refusal
from services.offers.domain.programs import ProgramDefinition

# Why nothing more of an archived program's offers is approved (the approve endpoint's 409).
ARCHIVED_PROGRAM = "its program is archived, so nothing more of it is approved; reject or revoke it"
# Why nothing of an archived program goes live (the program approve endpoint's 409).
ARCHIVED_VERSION = "the program is archived, which is final: nothing goes live"
VERSION_SCOPE_MISSING = f"approving a program version takes the {APPROVE_SCOPE} scope"


@dataclass(frozen=True)
class Verdict:
    """Whether the caller may approve now: the slot they would fill, or why not."""

    may_approve: bool
    slot: ApprovalSlot | None = None
    why_not: str | None = None


def offer_verdict(
    needs: ApprovalNeeds, principal: str, scopes: frozenset[str], program_archived: bool
) -> Verdict:
    """What approving this offer now would do for ``principal``: the slot ``slot_for`` gives,
    or its refusal; an offer of an archived program is refused first, as the approve
    endpoint refuses it before asking who approves."""
    if program_archived:
        return Verdict(False, why_not=ARCHIVED_PROGRAM)
    try:
        return Verdict(True, slot=slot_for(needs, principal, scopes))
    except ApprovalRefused as exc:
        return Verdict(False, why_not=str(exc))


def version_refusal(
    approver: str,
    scopes: frozenset[str],
    author: str,
    owner: str,
    current_owner: str | None,
    program_archived: bool,
) -> str | None:
    """Why ``approver`` may not put a pending version live, in the order the program approve
    endpoint asks: the scope (``admin`` holds every scope), the program archived, then four
    eyes (``approval_refusal``); None when they may."""
    if "admin" not in scopes and APPROVE_SCOPE not in scopes:
        return VERSION_SCOPE_MISSING
    if program_archived:
        return ARCHIVED_VERSION
    return approval_refusal(approver, author, owner, current_owner)


def changed_fields(version: ProgramDefinition, live: ProgramDefinition | None) -> list[str]:
    """The top-level fields of ``version`` that differ from the live version's, in the
    definition's field order. With no live version (a program never live) everything the
    version sets is new: every field it sets (a stored definition sets them all)."""
    names = list(type(version).model_fields)
    if live is None:
        return [n for n in names if n in version.model_fields_set]
    return [n for n in names if getattr(version, n) != getattr(live, n)]


def budget_left(definition: ProgramDefinition, committed_minor: int) -> int | None:
    """What the program-wide budget cap of a version leaves after what is committed now;
    None when the version has no cap. Negative when a later version's offers, or a cap
    lowered since, took the program past this version's cap."""
    cap = definition.limits.budget_minor
    return None if cap is None else cap - committed_minor
