"""One offer's page: its trace as a timeline and whether the ledger's chains verify."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

from services.console.api.deps import Person
from services.console.domain.timeline import Step, offer_timeline
from services.console.platform import Platform, segment
from services.console.service.panels import Panel, panel


@dataclass
class OfferView:
    """An offer, its story, and the ledger's audit (admin only: it reads every chain)."""

    trace: Panel[dict[str, Any]]
    steps: list[Step]
    audit: Panel[dict[str, Any]] | None


async def offer_page(platform: Platform, person: Person, offer_id: uuid.UUID) -> OfferView:
    """The offer's trace and, for someone who may run it, the ledger's verification."""
    trace_call = panel(platform.get("offers", f"/v1/offers/{segment(offer_id)}/trace", person.key))
    if person.may("admin"):
        trace, audit = await asyncio.gather(
            trace_call, panel(platform.get("ledger", "/v1/audit/verify", person.key))
        )
        return OfferView(trace, offer_timeline(trace.data) if trace.data else [], audit)
    trace = await trace_call
    return OfferView(trace, offer_timeline(trace.data) if trace.data else [], None)
