"""A program's results: treated against held-out accounts at renewal, and what it cost."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from services.offers.api.deps import Reader
from services.offers.schemas.results import ResultsOut
from services.offers.service import results as service
from shared.deps import Session
from shared.errors import DependencyUnavailable, UnknownProgram, Unprocessable, responses
from shared.http import ServiceClient
from shared.json_body import JsonBodyRoute
from shared.validation import Instant, PathId

router = APIRouter(route_class=JsonBodyRoute, prefix="/v1/programs", tags=["results"])


def _client(name: str) -> Callable[[Request], ServiceClient]:
    def client(request: Request) -> ServiceClient:
        found: ServiceClient = request.app.state.clients[name]
        return found

    return client


# Offers reads ingest (renewal outcomes, MRR) and the ledger (its reports) with its own key.
Ingest = Annotated[ServiceClient, Depends(_client("ingest"))]
Ledger = Annotated[ServiceClient, Depends(_client("ledger"))]


@router.get(
    "/{program_id}/results",
    responses=responses(UnknownProgram, Unprocessable, DependencyUnavailable),
)
async def program_results(
    program_id: PathId,
    session: Session,
    _: Reader,
    ingest: Ingest,
    ledger: Ledger,
    start: Annotated[
        Instant | None,
        Query(alias="from", description="Renewals from this instant (the first decision)"),
    ] = None,
    end: Annotated[
        Instant | None, Query(alias="to", description="Renewals before this instant (now)")
    ] = None,
) -> ResultsOut:
    """Treated (offered) against held-out accounts: each account's first final renewal
    outcome in the window after its first decision, the renewal rates and their difference
    with a 95% Newcombe hybrid score interval, NRR per group, the credits' cost, and warnings
    when a group is too small for the interval to mean much."""
    return await service.program_results(
        session, ingest, ledger, program_id, start, end, datetime.now(UTC)
    )
