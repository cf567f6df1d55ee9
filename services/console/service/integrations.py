"""The integrations page: the sources and what they sent, rejected events and their replay,
and each service's parked outbox messages and their retry.

Listing sources, replaying in bulk and the outboxes are admin-only in the services' APIs:
for anyone else the console does not call them and says why not instead.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from services.console.api.deps import Person
from services.console.domain.integrations import (
    OUTBOX_SERVICES,
    bulk_replay_said,
    replay_said,
    source_labels,
)
from services.console.platform import ApiProblem, Platform, ServiceDown
from services.console.service.panels import FormError, Panel, items, panel

# One page of each list: the oldest unresolved first, as the services order them.
SOURCES_LIMIT = 100
REJECTED_LIMIT = 50
PARKED_LIMIT = 100
ADMIN_ONLY = "the service's API lets only an admin do this (you do not have the admin role)"
REPLAY_SCOPE = "ingest:write"


@dataclass
class IntegrationsView:
    """What the integrations page shows; ``done`` says what the last action did."""

    sources: Panel[dict[str, Any]]
    rejected: Panel[dict[str, Any]]
    outboxes: dict[str, Panel[dict[str, Any]]]
    may_admin: bool
    may_replay: bool
    cursor: str | None = None
    sources_cursor: str | None = None
    source: str | None = None
    reason: str | None = None
    done: str | None = None
    error: FormError | None = None
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def source_items(self) -> list[dict[str, Any]]:
        """The sources listed."""
        return items(self.sources.data)

    @property
    def rejected_items(self) -> list[dict[str, Any]]:
        """The unresolved rejected events of this page."""
        return items(self.rejected.data)

    @property
    def next_cursor(self) -> str | None:
        """The cursor of the next page of rejected events, if there is one."""
        data = self.rejected.data or {}
        return data.get("next_cursor")

    @property
    def next_sources(self) -> str | None:
        """The cursor of the next page of sources, if there is one."""
        data = self.sources.data or {}
        return data.get("next_cursor")

    def more_parked(self, service: str) -> bool:
        """Whether one service has more parked messages than the page shows."""
        data = self.outboxes[service].data or {}
        return bool(data.get("next_cursor"))

    def stray_error(self, prefix: str) -> FormError | None:
        """The error of a form whose row is not on the page (the message was retried or the
        event resolved meanwhile, or this person is not shown the list): said at the top of
        its section instead, so it is never lost."""
        error = self.error
        if error is None or not error.target.startswith(prefix):
            return None
        shown = {f"rejected-{r.get('id')}" for r in self.rejected_items}
        shown |= {f"outbox-{s}-{m.get('id')}" for s in self.outboxes for m in self.parked(s)}
        return None if error.target in shown else error

    def parked(self, service: str) -> list[dict[str, Any]]:
        """The parked messages of one service's outbox."""
        return items(self.outboxes[service].data)


def _down(target: str, exc: ServiceDown) -> FormError:
    return FormError(target, f"{exc}: nothing was done; try again.", 503, {})


def _refused_not_called(why: str) -> Panel[dict[str, Any]]:
    return Panel(refused=why, status=403)


async def integrations(
    platform: Platform,
    person: Person,
    *,
    cursor: str | None = None,
    sources_cursor: str | None = None,
    source: str | None = None,
    reason: str | None = None,
    done: str | None = None,
    error: FormError | None = None,
) -> IntegrationsView:
    """Every panel of the page at once; a service down makes only its own panels say so."""
    may_admin = person.may("admin")
    calls: list[Any] = [
        panel(
            platform.get(
                "ingest",
                "/v1/rejected",
                person.key,
                resolved="false",
                source=source or None,
                reason_contains=reason or None,
                limit=REJECTED_LIMIT,
                cursor=cursor,
            )
        )
    ]
    if may_admin:
        calls.append(
            panel(
                platform.get(
                    "ingest",
                    "/v1/sources",
                    person.key,
                    limit=SOURCES_LIMIT,
                    cursor=sources_cursor,
                )
            )
        )
        calls += [
            panel(platform.get(s, "/v1/outbox", person.key, parked="true", limit=PARKED_LIMIT))
            for s in OUTBOX_SERVICES
        ]
    answers = await asyncio.gather(*calls)
    rejected = answers[0]
    if may_admin:
        sources = answers[1]
        outboxes = dict(zip(OUTBOX_SERVICES, answers[2:], strict=True))
    else:
        sources = _refused_not_called(f"Sources are listed to admins only: {ADMIN_ONLY}.")
        outboxes = {
            s: _refused_not_called(f"Parked messages are shown to admins only: {ADMIN_ONLY}.")
            for s in OUTBOX_SERVICES
        }
    return IntegrationsView(
        sources=sources,
        rejected=rejected,
        outboxes=outboxes,
        may_admin=may_admin,
        may_replay=person.may(REPLAY_SCOPE),
        cursor=cursor,
        sources_cursor=sources_cursor,
        source=source,
        reason=reason,
        done=done,
        error=error,
        labels=source_labels(items(sources.data)),
    )


async def replay(
    platform: Platform, person: Person, rejected_id: int, source: str = "", reason: str = ""
) -> str | IntegrationsView:
    """Replay one rejected event as this person: intake's outcome when it took it
    (``accepted``, ``duplicate``), else the page with the refusal (or intake's reason for
    refusing the event again) on the event's own form."""
    target = f"rejected-{rejected_id}"
    shown = {"source": source, "reason": reason}
    try:
        outcome = await platform.post(
            "ingest", f"/v1/rejected/{rejected_id}/replay", person.key, {}
        )
    except ApiProblem as exc:
        return await integrations(platform, person, error=FormError.of(target, exc), **shown)
    except ServiceDown as exc:
        return await integrations(platform, person, error=_down(target, exc), **shown)
    taken, said = replay_said(rejected_id, outcome or {})
    if taken:
        return str((outcome or {}).get("outcome"))
    refused = FormError(target, said, 422, {})
    return await integrations(platform, person, error=refused, **shown)


async def replay_matching(
    platform: Platform, person: Person, source: str, reason_contains: str, limit: int
) -> IntegrationsView:
    """Replay every unresolved rejected event matching the filter (admin)."""
    body: dict[str, Any] = {
        "source": source or None,
        "reason_contains": reason_contains or None,
        "limit": limit,
    }
    try:
        result = await platform.post("ingest", "/v1/rejected/replay", person.key, body)
    except ApiProblem as exc:
        return await integrations(platform, person, error=FormError.of("replay-matching", exc))
    except ServiceDown as exc:
        return await integrations(platform, person, error=_down("replay-matching", exc))
    return await integrations(platform, person, done=bulk_replay_said(result or {}))


async def retry(
    platform: Platform, person: Person, service: str, entry_id: int
) -> FormError | None:
    """Put a parked outbox message of ``service`` back in line as this person: None when
    taken, else the refusal for the message's form."""
    try:
        await platform.post(service, f"/v1/outbox/{entry_id}/retry", person.key, {})
    except ApiProblem as exc:
        return FormError.of(f"outbox-{service}-{entry_id}", exc)
    except ServiceDown as exc:
        return _down(f"outbox-{service}-{entry_id}", exc)
    return None
