"""The approvals inbox: what waits on this person, and approving or rejecting it.

The offers service says, for the person's own key, whether they may approve each item and
why not (the same rules its approve endpoint applies); the console only shows it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Literal

from services.console.api.deps import Person
from services.console.platform import ApiProblem, Platform, segment
from services.console.service.panels import FormError, Panel, items, panel

# One page of each list: an inbox longer than this is worked from the top (oldest first);
# fifty cards is what a person decides in a sitting, and keeps the page under 250 ms.
INBOX_LIMIT = 50


@dataclass
class InboxView:
    """The inbox: offers and program versions awaiting approval, split into those this
    person may approve now and the rest (with why not)."""

    # The offers this person may approve (looked for past the oldest ones that are not),
    # the oldest offers awaiting anyone, and the program versions.
    offers: Panel[list[dict[str, Any]]]
    versions: Panel[list[dict[str, Any]]]
    offers_mine: Panel[list[dict[str, Any]]] = field(default_factory=Panel)
    error: FormError | None = None
    done: str | None = None
    more: dict[str, bool] = field(default_factory=dict)
    # The one program the inbox is narrowed to, if any.
    program_id: str | None = None

    def mine(self, kind: Literal["offers", "versions"]) -> list[dict[str, Any]]:
        """Items of ``kind`` this person may approve now."""
        if kind == "offers":
            return self.offers_mine.data or []
        return [i for i in self.versions.data or [] if i.get("may_approve")]

    def shows(self, target: str) -> bool:
        """Whether the card a form error belongs to (``offer-…``, ``version-…``) is shown."""
        offers = (*self.mine("offers"), *self.others("offers"))
        versions = (*self.mine("versions"), *self.others("versions"))
        return target in {f"offer-{i['offer']['id']}" for i in offers} | {
            f"version-{i['program_id']}" for i in versions
        }

    def others(self, kind: Literal["offers", "versions"]) -> list[dict[str, Any]]:
        """Items of ``kind`` waiting on someone else."""
        chosen = self.offers if kind == "offers" else self.versions
        return [i for i in chosen.data or [] if not i.get("may_approve")]


async def _page(
    platform: Platform, person: Person, path: str, program_id: str | None = None
) -> dict[str, Any]:
    page: dict[str, Any] = await platform.get(
        "offers", path, person.key, limit=INBOX_LIMIT, program_id=program_id
    )
    return page


async def _mine(platform: Platform, person: Person, program_id: str | None) -> dict[str, Any]:
    """The oldest offers this person may approve now: offers looks past the ones that are
    not theirs (``mine=true``), however many come first."""
    page: dict[str, Any] = await platform.get(
        "offers",
        "/v1/approvals/offers",
        person.key,
        mine="true",
        limit=INBOX_LIMIT,
        program_id=program_id,
    )
    return page


async def inbox(
    platform: Platform, person: Person, done: str | None = None, program_id: str | None = None
) -> InboxView:
    """Everything awaiting approval (of one program, if given), oldest first, as this
    person sees it."""
    mine, offers, versions = await asyncio.gather(
        panel(_mine(platform, person, program_id)),
        panel(_page(platform, person, "/v1/approvals/offers", program_id)),
        panel(_page(platform, person, "/v1/approvals/programs")),
    )
    pending_versions = items(versions.data)
    if program_id is not None:
        pending_versions = [v for v in pending_versions if v.get("program_id") == program_id]
    view = InboxView(
        offers=Panel(items(offers.data), offers.down, offers.refused),
        versions=Panel(pending_versions, versions.down, versions.refused),
        offers_mine=Panel(items(mine.data), mine.down, mine.refused),
        done=done,
        program_id=program_id,
    )
    view.more = {
        "offers": bool(offers.data and offers.data.get("next_cursor")),
        "versions": bool(versions.data and versions.data.get("next_cursor")),
    }
    return view


Decision = Literal["approve", "reject"]


async def decide_offer(
    platform: Platform,
    person: Person,
    offer_id: str,
    decision: Decision,
    comment: str,
    program_id: str | None = None,
) -> InboxView | None:
    """Approve or reject an offer as this person: None when the offers service took it,
    else the inbox (of the offer's program, so its card is there) with the refusal on that
    offer's form."""
    body = {"comment": comment or None} if decision == "approve" else {"comment": comment}
    try:
        path = f"/v1/offers/{segment(offer_id)}/{decision}"
        await platform.post("offers", path, person.key, body)
    except ApiProblem as exc:
        view = await inbox(platform, person, program_id=program_id)
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
        path = f"/v1/programs/{segment(program_id)}/approve"
        await platform.post("offers", path, person.key, body)
    except ApiProblem as exc:
        view = await inbox(platform, person)
        view.error = FormError.of(f"version-{program_id}", exc)
        return view
    return None
