"""Who may approve a program version, and which status changes a program allows."""

from __future__ import annotations

from services.offers.domain.programs import ProgramStatus


def approval_refusal(
    approver: str, author: str, owner: str, current_owner: str | None = None
) -> str | None:
    """Why ``approver`` may not approve a version written by ``author`` that names ``owner``
    as the program's owner, of a program ``current_owner`` owns now (the live version's, if
    any): four eyes, so none of them may approve it (an owner could otherwise approve a
    version handing the program to someone else), or None when they may."""
    if approver == author:
        return f"{approver!r} wrote this version and cannot approve it"
    if approver in (owner, current_owner):
        return f"{approver!r} owns this program and cannot approve its versions"
    return None


def status_refusal(current: ProgramStatus, target: ProgramStatus, has_live: bool) -> str | None:
    """Why a program in ``current`` cannot move to ``target``, or None when it can.

    Archived is final; draft is only where a program starts; a program runs (active) only with
    an approved version; only a running program can be paused.
    """
    if current == "archived":
        return "the program is archived, which is final"
    if target == current:
        return f"the program is already {current}"
    if target == "draft":
        return "a program cannot return to draft"
    if target == "active" and not has_live:
        return "the program has no approved version to run"
    if target == "paused" and current != "active":
        return f"only an active program can be paused, and this one is {current}"
    return None
