"""A program's results: its groups from offers' decisions, their renewal outcomes and
revenue from ingest, its credits' cost from the ledger (both over HTTP, with offers' key)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from services.offers.domain import results as rules
from services.offers.domain import sample_ratio as srm
from services.offers.repository import programs as programs_repo
from services.offers.repository import results as repo
from services.offers.schemas.results import (
    CostsOut,
    GroupOut,
    IntervalOut,
    ResultsOut,
    RetentionOut,
    SampleRatioOut,
)
from shared.contracts import ACCOUNTS_PER_QUERY, MrrAnswer, MrrAt, Outcome
from shared.errors import DependencyUnavailable, UnknownProgram, check_range
from shared.http import RetryableStatus, ServiceClient
from shared.pagination import MAX_LIMIT

OUTCOMES_PATH = "/v1/outcomes/query"
MRR_PATH = "/v1/accounts/mrr"
# A reader waits this long at most for ingest and the ledger together (each call would
# otherwise retry for up to 40 s).
DEPENDENCY_DEADLINE_SECONDS = 10.0
_COST_REPORTS = ("grants", "redemptions", "breakage")


class DependencyDown(DependencyUnavailable):
    """Ingest or the ledger could not answer: the results cannot be told without them; the
    request may be sent again shortly."""


async def program_results(
    session: AsyncSession,
    ingest: ServiceClient,
    ledger: ServiceClient,
    program_id: str,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> ResultsOut:
    """Treated against held-out accounts of a program at renewal, in [start, end) (by default
    from the program's first decision that put an account in a group, to now)."""
    program = await programs_repo.get_program(session, program_id)
    if program is None:
        raise UnknownProgram(f"No program has the id {program_id!r}.")
    version = await programs_repo.get_version(
        session, program_id, program.live_version or program.latest_version
    )
    assert version is not None  # a program always has its latest version
    currency: str = version.definition["currency"]
    # The split is tested against the version in force (the one the currency comes from).
    target = float(Decimal(str(version.definition.get("holdout_percent", 0))) / 100)
    end = end or now
    decisions = await repo.first_decisions(session, program_id, end)
    start = start or min((d.decided_at for d in decisions), default=program.created_at)
    check_range(start, end)
    members = rules.assign_groups(decisions)
    ids = sorted(members)
    # What offers holds is read: its transaction ends here, so the calls below hold no
    # connection of offers' pool however slowly ingest or the ledger answers.
    await session.commit()
    try:
        async with asyncio.timeout(DEPENDENCY_DEADLINE_SECONDS):
            found, facts, costs = await _from_dependencies(
                ingest, ledger, ids, program_id, start, end
            )
    except TimeoutError:
        raise DependencyDown(
            f"Ingest or the ledger did not answer within {DEPENDENCY_DEADLINE_SECONDS:.0f} s."
        ) from None
    outcomes, pending = rules.first_outcomes(members, found, start, end)
    comparison = rules.compare(members, outcomes, pending)
    groups = {
        name: _group(
            comparison.groups[name],
            rules.retention((a for a, m in members.items() if m.group == name), facts, currency),
        )
        for name in rules.GROUPS
    }
    split = srm.sample_ratio(
        comparison.groups["treated"].accounts, comparison.groups["holdout"].accounts, target
    )
    mismatch = srm.mismatch_warning(split)
    return ResultsOut(
        program_id=program_id,
        window_from=start,
        window_to=end,
        method=rules.METHOD,
        confidence=rules.CONFIDENCE,
        treated=groups["treated"],
        holdout=groups["holdout"],
        difference=comparison.difference,
        interval=_interval(comparison.interval),
        costs=CostsOut(
            granted=costs["grants"],
            redeemed=costs["redemptions"],
            expired=costs["breakage"],
        ),
        sample_ratio=SampleRatioOut(**asdict(split)),
        warnings=[*comparison.warnings, *([mismatch] if mismatch else [])],
    )


def _interval(interval: rules.Interval | None) -> IntervalOut | None:
    return None if interval is None else IntervalOut(lower=interval.lower, upper=interval.upper)


def _group(group: rules.GroupResult, kept: rules.Retention) -> GroupOut:
    return GroupOut(
        accounts=group.accounts,
        in_both=group.in_both,
        final_outcomes=group.final_outcomes,
        outcomes=group.outcomes,
        pending=group.pending,
        no_outcome=group.no_outcome,
        renewal_rate=group.renewal_rate,
        rate_interval=_interval(group.rate_interval),
        enough_data=group.enough_data,
        retention=RetentionOut(
            currency=kept.currency,
            accounts=kept.accounts,
            arr_start_minor=kept.arr_start_minor,
            arr_end_minor=kept.arr_end_minor,
            nrr=kept.nrr,
            other_currency=kept.other_currency,
        ),
    )


async def _outcomes(
    ingest: ServiceClient, account_ids: Sequence[str], start: datetime, end: datetime
) -> list[Outcome]:
    """The accounts' renewal outcomes dated within the window's days, page after page (the
    pure rule keeps those whose instant falls in the window)."""
    found: list[Outcome] = []
    for first in range(0, len(account_ids), ACCOUNTS_PER_QUERY):
        cursor: str | None = None
        while True:
            body: dict[str, Any] = {
                "account_ids": list(account_ids[first : first + ACCOUNTS_PER_QUERY]),
                "renewal_from": start.date().isoformat(),
                "renewal_to": end.date().isoformat(),
                "limit": MAX_LIMIT,
                **({"after": cursor} if cursor else {}),
            }
            page = (await _call(ingest, "POST", OUTCOMES_PATH, json=body)).json()
            found += [Outcome.model_validate(o) for o in page["items"]]
            cursor = page.get("next_cursor")
            if not cursor:
                break
    return found


async def _facts(
    ingest: ServiceClient, account_ids: Sequence[str], start: datetime, end: datetime
) -> dict[str, list[MrrAt | None]]:
    """Each account's MRR, currency and status in force at the window's start and end."""
    facts: dict[str, list[MrrAt | None]] = {}
    for first in range(0, len(account_ids), ACCOUNTS_PER_QUERY):
        body = {
            "account_ids": list(account_ids[first : first + ACCOUNTS_PER_QUERY]),
            "at": [start.isoformat(), end.isoformat()],
        }
        answer = MrrAnswer.model_validate_json(
            (await _call(ingest, "POST", MRR_PATH, json=body)).content
        )
        facts |= {a.account_id: a.values for a in answer.accounts}
    return facts


async def _from_dependencies(
    ingest: ServiceClient,
    ledger: ServiceClient,
    ids: Sequence[str],
    program_id: str,
    start: datetime,
    end: datetime,
) -> tuple[list[Outcome], dict[str, list[MrrAt | None]], dict[str, dict[str, int]]]:
    """The outcomes and MRR from ingest and the costs from the ledger, asked at once."""
    outcomes, facts, totals = await asyncio.gather(
        _outcomes(ingest, ids, start, end),
        _facts(ingest, ids, start, end),
        asyncio.gather(*(_cost(ledger, report, program_id) for report in _COST_REPORTS)),
    )
    return outcomes, facts, dict(zip(_COST_REPORTS, totals, strict=True))


async def _cost(ledger: ServiceClient, report: str, program_id: str) -> dict[str, int]:
    """A ledger report's totals by unit, for one program."""
    response = await _call(
        ledger, "GET", f"/v1/reports/{report}", params={"program_id": program_id}
    )
    totals: dict[str, int] = response.json()["totals"]
    return totals


async def _call(client: ServiceClient, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """A read of another service (safe to retry however often it takes); 200 or raise."""
    try:
        response = await client.request(method, path, idempotent=True, **kwargs)
    except (httpx.HTTPError, RetryableStatus) as exc:
        raise DependencyDown(f"{path} did not answer ({type(exc).__name__}).") from exc
    if response.status_code != 200:
        raise DependencyDown(f"{path} answered {response.status_code}: {response.text[:300]}")
    return response
