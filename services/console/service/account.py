"""One account's page: each panel from its own service, gathered at once, so a service that
is down empties only its own panels; and overriding the account's colour as the person."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from services.console.api.deps import Person
from services.console.domain.account_view import TREND_DAYS, expiry_for_api
from services.console.platform import ApiProblem, Platform, ServiceDown, segment
from services.console.service.panels import FormError, Panel, items, panel

OVERRIDE_SCOPE = "scores:write"
# The newest of each list: the page is a summary, the APIs have the rest.
RECENT = 20
LOTS = 100


@dataclass
class AccountView:
    """Everything the account page shows, panel by panel."""

    account_id: str
    score: Panel[dict[str, Any]]
    history: Panel[dict[str, Any]]
    overrides: Panel[list[dict[str, Any]]]
    account: Panel[dict[str, Any]]
    events: Panel[list[dict[str, Any]]]
    decisions: Panel[list[dict[str, Any]]]
    offers: Panel[list[dict[str, Any]]]
    balances: Panel[list[dict[str, Any]]]
    lots: Panel[list[dict[str, Any]]]
    today: datetime = field(default_factory=lambda: datetime.now(UTC))
    error: FormError | None = None
    # What the person typed into the override form, back on it after a refusal.
    typed: dict[str, str] = field(default_factory=dict)

    @property
    def unknown(self) -> bool:
        """Neither scoring nor ingest knows the account."""
        return self.score.status == 404 and self.account.status == 404

    @property
    def name(self) -> str:
        """The account's name as scoring or ingest has it (its id when neither answered)."""
        for source in (self.score.data, self.account.data):
            if source and source.get("name"):
                return str(source["name"])
        return self.account_id


def _listed(page: Panel[Any]) -> Panel[list[dict[str, Any]]]:
    return Panel(items(page.data), page.down, page.refused, page.status)


async def _balances(platform: Platform, person: Person, account_id: str) -> list[dict[str, Any]]:
    try:
        found = await platform.get("ledger", f"/v1/balances/{segment(account_id)}", person.key)
    except ApiProblem as exc:
        if exc.status == 404:  # the ledger's way of saying the account never had credit
            return []
        raise
    return list(found.get("balances") or [])


async def account_page(platform: Platform, person: Person, account_id: str) -> AccountView:
    """The account's score, trend, overrides, facts, events, decisions, offers and credit."""
    key = person.key
    scores = f"/v1/scores/{segment(account_id)}"
    (
        score,
        history,
        overrides,
        account,
        events,
        decisions,
        offers,
        balances,
        lots,
    ) = await asyncio.gather(
        panel(platform.get("scoring", scores, key)),
        panel(platform.get("scoring", f"{scores}/history", key, days=TREND_DAYS)),
        panel(platform.get("scoring", f"{scores}/overrides", key)),
        panel(platform.get("ingest", f"/v1/accounts/{segment(account_id)}", key)),
        panel(platform.get("ingest", "/v1/events", key, account_id=account_id, limit=RECENT)),
        panel(platform.get("offers", "/v1/decisions", key, account_id=account_id, limit=RECENT)),
        panel(platform.get("offers", "/v1/offers", key, account_id=account_id, limit=RECENT)),
        panel(_balances(platform, person, account_id)),
        panel(platform.get("ledger", "/v1/lots", key, account_id=account_id, limit=LOTS)),
    )
    return AccountView(
        account_id=account_id,
        score=score,
        history=history,
        overrides=Panel(overrides.data or [], overrides.down, overrides.refused, overrides.status),
        account=account,
        events=_listed(events),
        decisions=_listed(decisions),
        offers=_listed(offers),
        balances=balances,
        lots=_listed(lots),
    )


async def override_colour(
    platform: Platform, person: Person, account_id: str, typed: dict[str, str]
) -> AccountView | None:
    """Override the account's colour as this person (scoring checks their scope and the
    input): None when taken, else the page with scoring's refusal on the form."""
    body = {
        "colour": typed.get("colour", ""),
        "reason": typed.get("reason", ""),
        "expires_at": expiry_for_api(typed.get("expires_at", "")),
    }
    call = platform.post("scoring", f"/v1/scores/{segment(account_id)}/override", person.key, body)
    return await _changed(platform, person, account_id, call, typed)


NOTHING_TO_END = "No override is in force on this account: there was nothing to end."


async def end_override(platform: Platform, person: Person, account_id: str) -> AccountView | None:
    """End the account's override now, as this person: None when taken, else the page with
    scoring's refusal on the override's form (or, when none is in force, saying so: scoring
    answers an end of nothing as done)."""
    scores = f"/v1/scores/{segment(account_id)}"
    try:
        score: dict[str, Any] | None = await platform.get("scoring", scores, person.key)
    except (ApiProblem, ServiceDown):
        score = None  # the end itself says what is wrong
    if score is not None and not score.get("override"):
        view = await account_page(platform, person, account_id)
        view.error = FormError("override", NOTHING_TO_END, 409, {})
        return view
    call = platform.call("scoring", "DELETE", f"{scores}/override", person.key)
    return await _changed(platform, person, account_id, call, {})


async def _changed(
    platform: Platform,
    person: Person,
    account_id: str,
    call: Awaitable[Any],
    typed: dict[str, str],
) -> AccountView | None:
    # A change of the override: None when scoring took it, else the page with its refusal.
    try:
        await call
    except ApiProblem as exc:
        error = FormError.of("override", exc)
    except ServiceDown as exc:
        error = FormError("override", f"{exc}: nothing was changed, try again.", 503, {})
    else:
        return None
    view = await account_page(platform, person, account_id)
    view.error = error
    view.typed = typed
    return view
