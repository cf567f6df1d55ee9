"""The approvals inbox: what waits on this person, and approving or rejecting it.

The offers service says, for the person's own key, whether they may approve each item and
why not (the same rules its approve endpoint applies); the console only shows it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Literal

from services.console.api.deps import Person
from services.console.platform import ApiProblem, Platform
from services.console.service.panels import FormError, Panel, items, panel

# One page of each list: an inbox longer than this is worked from the top (oldest first);
# fifty cards is what a person decides in a sitting, and keeps the page under 250 ms.
INBOX_LIMIT = 50


@dataclass
class InboxView:
    """The inbox: offers and program versions awaiting approval, split into those this
    person may approve now and the rest (with why not)."""

    offers: Panel[list[dict[str, Any]]]
    versions: Panel[list[dict[str, Any]]]
    error: FormError | None = None
    done: str | None = None
    more: dict[str, bool] = field(default_factory=dict)

    def mine(self, kind: Literal["offers", "versions"]) -> list[dict[str, Any]]:
        """Items of ``kind`` this person may approve now."""
        return [i for i in self._of(kind) if i.get("may_approve")]

    def others(self, kind: Literal["offers", "versions"]) -> list[dict[str, Any]]:
        """Items of ``kind`` waiting on someone else."""
        return [i for i in self._of(kind) if not i.get("may_approve")]

    def _of(self, kind: str) -> list[dict[str, Any]]:
        chosen = self.offers if kind == "offers" else self.versions
        return chosen.data or []


async def _page(platform: Platform, person: Person, path: str) -> dict[str, Any]:
    page: dict[str, Any] = await platform.get("offers", path, person.key, limit=INBOX_LIMIT)
    return page


async def inbox(platform: Platform, person: Person, done: str | None = None) -> InboxView:
    """Everything awaiting approval, oldest first, as this person sees it."""
    offers, versions = await asyncio.gather(
        panel(_page(platform, person, "/v1/approvals/offers")),
        panel(_page(platform, person, "/v1/approvals/programs")),
    )
    view = InboxView(
        offers=Panel(items(offers.data), offers.down, offers.refused),
        versions=Panel(items(versions.data), versions.down, versions.refused),
        done=done,
    )
    view.more = {
        "offers": bool(offers.data and offers.data.get("next_cursor")),
        "versions": bool(versions.data and versions.data.get("next_cursor")),
    }
    return view


Decision = Literal["approve", "reject"]


async def decide_offer(
    platform: Platform, person: Person, offer_id: str, decision: Decision, comment: str
) -> InboxView | None:
    """Approve or reject an offer as this person: None when the offers service took it,
    else the inbox with the refusal on that offer's form."""
    body = {"comment": comment or None} if decision == "approve" else {"comment": comment}
    try:
        await platform.post("offers", f"/v1/offers/{offer_id}/{decision}", person.key, body)
    except ApiProblem as exc:
        view = await inbox(platform, person)
        view.error = FormError.of(f"offer-{offer_id}", exc)
        return view
    return None


async def approve_version(
    platform: Platform, person: Person, program_id: str, version: int, comment: str
) -> InboxView | None:
    """Put a program version live as this person: None when taken, else the inbox with
    the refusal on that version's form."""
    body = {"version": version, "comment": comment or None}
    try:
        await platform.post("offers", f"/v1/programs/{program_id}/approve", person.key, body)
    except ApiProblem as exc:
        view = await inbox(platform, person)
        view.error = FormError.of(f"version-{program_id}", exc)
        return view
    return None
