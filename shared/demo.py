"""``tenure demo``: load a synthetic book through the public APIs and show what the platform
made of it.

Phases, each timed: keys for the demo's own principals; the programs held while the book
loads (so offers decide on the finished snapshots, not on accounts whose events are still
arriving); accounts with their fact history, users, events, tickets and surveys; a full
recompute today, scoring's history filled in weekly by as-of recomputes, and a full
recompute today again; the programs back and every demo account evaluated; a share of what
awaits approval approved; part of some granted credits redeemed on invoices; then the report
(``shared.demo_report``).

Safe to run twice: ids are deterministic, upserts of unchanged facts record nothing, event
ids dedupe, and approvals and redemptions are only made for what is still pending or
unredeemed, under idempotency keys derived from the offer.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

from rich.console import Console
from rich.progress import Progress

from shared.demo_book import ACCOUNT_PREFIX, Account, account_id, book
from shared.demo_client import (
    SERVICES,
    Api,
    DemoError,
    api,
    gather_limited,
    settle,
    wait_jobs,
)

# The demo's principals and what each may do: none of them is `tenure`, the default
# programs' owner, and the approvers are not the proposer, so every approval is allowed.
PRINCIPALS: dict[str, tuple[str, list[str]]] = {
    "demo-crm": ("ingest", ["ingest:write", "ingest:read"]),
    "demo-support": ("ingest", ["ingest:write"]),
    "demo-surveys": ("ingest", ["ingest:write"]),
    "demo-ops": ("offers", ["scores:write", "scores:read", "offers:write", "offers:read"]),
    "demo-approver": ("offers", ["offers:approve", "offers:read"]),
    "demo-finance": ("offers", ["offers:approve_finance", "offers:read"]),
    "demo-billing": ("ledger", ["ledger:write", "ledger:read"]),
}
HOLD_REASON = "tenure demo: held while its book loads"
APPROVE_SHARE = 0.6  # of offers awaiting approval
REDEEM_SHARE = 0.5  # of issued credits, each redeemed in part
CONCURRENCY = 4
# The book's first user carries what the book was made from, for the next run to read.
MARKER_USER = f"{account_id(0)}-u000"
MARKER_TRAIT = "tenure_demo_book"


@dataclass(frozen=True)
class Options:
    """What ``tenure demo`` was asked to do."""

    accounts: int
    days: int
    seed: int
    urls: dict[str, str]
    admin_key: str
    history_every: int = 7
    settle_timeout: float = 900.0


@dataclass
class Run:
    """What one run did, with each phase's time in seconds."""

    anchor: date
    timings: dict[str, float] = field(default_factory=dict)
    sent: dict[str, int] = field(default_factory=dict)


def share(key: str, fraction: float) -> bool:
    """A stable yes for ``fraction`` of keys: the same answer on every run."""
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:4], "big") < fraction * 2**32


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    """``items`` in lists of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Phases:
    """Times each phase into the run and says on the console when it is done."""

    def __init__(self, console: Console, run: Run) -> None:
        self.console = console
        self.run = run

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Time phase ``name`` (a phase that fails is not reported done)."""
        started = time.monotonic()
        yield
        took = time.monotonic() - started
        self.run.timings[name] = took
        self.console.print(f"[green]✓[/] {name} [dim]({took:.1f} s)[/]")


async def anchor_day(crm: Api, options: Options) -> date:
    """The day the book ends: today on a first run; on a later one, the day it was first
    loaded on, read back from the marker its first user carries (so a re-run on another day
    sends the same book rather than a shifted one). A platform holding a book of another
    period or seed is refused: the two would not be one book."""
    found = await crm.call("GET", f"/v1/users/{MARKER_USER}", ok=(200, 404))
    if found.status_code == 404:
        return datetime.now(UTC).date()
    marker = found.json()["traits"].get(MARKER_TRAIT)
    if marker is None:
        return datetime.now(UTC).date()
    if (marker["days"], marker["seed"]) != (options.days, options.seed):
        raise DemoError(
            f"this platform holds the demo book of --days {marker['days']} --seed"
            f" {marker['seed']}; run with those to load it again"
        )
    return date.fromisoformat(marker["anchor"])


async def make_keys(admin: Api) -> dict[str, str]:
    """A fresh key per demo principal; the previous run's are revoked."""
    async for key in admin.walk("/v1/api-keys"):
        if key["principal"] in PRINCIPALS and key["revoked_at"] is None:
            await admin.call("DELETE", f"/v1/api-keys/{key['id']}")
    keys = {}
    for principal, (_service, scopes) in PRINCIPALS.items():
        created = await admin.post("/v1/api-keys", {"principal": principal, "scopes": scopes})
        keys[principal] = created["key"]
    return keys


async def hold_programs(ops: Api) -> list[str]:
    """Pause every active program (and find those a run that stopped half way left held);
    returns the ones to resume."""
    held = []
    async for program in ops.walk("/v1/programs"):
        if program["status"] == "active":
            body = {"status": "paused", "reason": HOLD_REASON}
            await ops.post(f"/v1/programs/{program['id']}/status", body)
            held.append(program["id"])
        elif program["status"] == "paused":
            events = [e async for e in ops.walk(f"/v1/programs/{program['id']}/events")]
            if events and events[-1].get("reason") == HOLD_REASON:
                held.append(program["id"])
    return held


async def resume_programs(ops: Api, held: list[str]) -> None:
    """Put the held programs back to active."""
    for program_id in held:
        body = {"status": "active", "reason": "tenure demo: book loaded"}
        await ops.post(f"/v1/programs/{program_id}/status", body)


async def load(
    apis: dict[str, Api], accounts: list[Account], marker: dict[str, Any], phases: Phases
) -> None:
    """Accounts (every version), users, events, then tickets and surveys."""
    crm, support, surveys_tool = apis["demo-crm"], apis["demo-support"], apis["demo-surveys"]
    sent = phases.run.sent
    with Progress(console=phases.console, transient=True) as progress:

        async def batches(name: str, path: str, key: str, parts: list[list[Any]]) -> None:
            task = progress.add_task(name, total=sum(map(len, parts)))
            with phases.timed(name):

                async def one(part: list[Any]) -> None:
                    answer = await crm.post(path, {key: part})
                    if key == "events":
                        for counter in ("accepted", "duplicates"):
                            sent[f"events_{counter}"] = sent.get(f"events_{counter}", 0) + int(
                                answer[counter]
                            )
                    if answer.get("rejected"):
                        raise DemoError(f"{path} rejected {answer['rejected'][:3]}")
                    progress.advance(task, len(part))

                await gather_limited([partial(one, p) for p in parts], CONCURRENCY)
            sent[key] = sum(map(len, parts))

        # An account's versions travel in one batch, which compares them in effective order.
        # (300 accounts of at most three versions stay under a batch's 1,000 items.)
        versions = [
            [v.body(a.id) for a in part for v in a.versions] for part in chunks(accounts, 300)
        ]
        await batches("accounts", "/v1/accounts/batch", "accounts", versions)
        users: list[dict[str, Any]] = [
            {"external_id": u, "account_id": a.id, "name": f"User {u[-3:]} of {a.id}"}
            for a in accounts
            for u in a.users
        ]
        users[0]["traits"] = {MARKER_TRAIT: marker}
        await batches("users", "/v1/users/batch", "users", list(chunks(users, 1000)))
        events = [e for a in accounts for e in a.events]
        await batches("events", "/v1/events", "events", list(chunks(events, 1000)))

        tickets = [t for a in accounts for t in a.tickets]
        surveys = [s for a in accounts for s in a.surveys]
        with phases.timed("tickets and surveys"):
            # A ticket's open goes before its close: they are sent one account at a time.
            async def account_tickets(items: list[dict[str, Any]]) -> None:
                for item in items:
                    await support.call("POST", "/v1/tickets", json=item)

            jobs: list[Callable[[], Awaitable[Any]]] = [
                partial(account_tickets, a.tickets) for a in accounts if a.tickets
            ]
            # The survey tool is an integration of its own, with its own key and rate limit.
            jobs += [partial(surveys_tool.post, "/v1/surveys", s) for s in surveys]
            task = progress.add_task("tickets and surveys", total=len(jobs))

            def advance() -> None:
                progress.advance(task)

            await gather_limited(jobs, CONCURRENCY * 2, done=advance)
        sent["tickets"], sent["surveys"] = len(tickets), len(surveys)


async def backfill(ops: Api, admins: dict[str, Api], options: Options, run: Run) -> int:
    """A full recompute today, as-of recomputes of every demo account every
    ``history_every`` days of the period, then a full recompute today again; returns the
    days filled in.

    Twice today because a full recompute places each account against the RFM cut points
    in force and only sets new ones at its end: on a platform that ran its daily recompute
    before the book arrived, the first pass scores the book against cut points of another
    population, and the second against the book's own (which a re-run finds unchanged).
    The first is waited for before the rest are queued: when it is the first with a
    population, scoring queues a pass of its own at its end, and jobs run one at a time in
    the order queued, so the last one queued here finishes after it.
    """
    ids = [account_id(i) for i in range(options.accounts)]
    days = [
        run.anchor - timedelta(days=back)
        for back in range(options.days, 0, -options.history_every)
        if back <= 399
    ]
    await wait_jobs(ops, [(await ops.post("/v1/recompute", {}))["id"]], options.settle_timeout)
    jobs = []
    for day in days:
        for part in chunks(ids, 10_000):
            body = {"account_ids": part, "as_of": day.isoformat()}
            jobs.append((await ops.post("/v1/recompute", body))["id"])
    jobs.append((await ops.post("/v1/recompute", {}))["id"])
    await wait_jobs(ops, jobs, options.settle_timeout)
    await settle(admins, options.settle_timeout)
    return len(days)


async def evaluate(ops: Api, options: Options) -> int:
    """Every live program decided for every demo account on its newest snapshot; returns the
    offers proposed."""
    ids = [account_id(i) for i in range(options.accounts)]
    proposed = 0
    for part in chunks(ids, 1000):
        proposed += len((await ops.post("/v1/evaluate", {"account_ids": part}))["offer_ids"])
    return proposed


async def demo_offers(ops: Api, **filters: str) -> list[dict[str, Any]]:
    """The demo accounts' offers, by the filters of ``GET /v1/offers``."""
    return [
        o
        async for o in ops.walk("/v1/offers", **filters)
        if o["account_id"].startswith(ACCOUNT_PREFIX)
    ]


async def approve(apis: dict[str, Api]) -> int:
    """Approve a stable share of the offers awaiting approval: an approver, and finance where
    the offer needs it. Returns the approvals given."""
    approver, finance = apis["demo-approver"], apis["demo-finance"]
    body = {"comment": "tenure demo: approved"}

    async def one(offer: dict[str, Any]) -> int:
        # A run stopped half way may have filled one slot: only the open ones are filled.
        trace = await approver.get(f"/v1/offers/{offer['id']}/trace")
        slots = {a["slot"] for a in trace["approvals"]}
        given = 0
        if "approver" not in slots:
            await approver.post(f"/v1/offers/{offer['id']}/approve", body)
            given += 1
        if offer["finance_required"] and "finance" not in slots:
            await finance.post(f"/v1/offers/{offer['id']}/approve", body)
            given += 1
        return given

    chosen = [
        partial(one, offer)
        for offer in await demo_offers(apis["demo-ops"], state="pending_approval")
        if share(f"approve:{offer['account_id']}:{offer['program_id']}", APPROVE_SHARE)
    ]
    return sum(await gather_limited(chosen, CONCURRENCY))


async def redeem(apis: dict[str, Api]) -> int:
    """Redeem part (a quarter to three quarters) of a stable share of the issued credits that
    nothing was redeemed from, each on an invoice of its own. Returns the redemptions made
    (not those the ledger answered as replays)."""
    billing = apis["demo-billing"]
    made = 0
    for offer in await demo_offers(apis["demo-ops"], state="issued"):
        if offer["granted_minor"] <= 0 or offer["redeemed_minor"] > 0:
            continue
        if not share(f"redeem:{offer['id']}", REDEEM_SHARE):
            continue
        part = 25 + int(hashlib.sha256(offer["id"].encode()).digest()[0]) * 50 // 255
        body = {
            "account_id": offer["account_id"],
            "unit": offer["currency"],
            "amount": max(1, offer["granted_minor"] * part // 100),
            "invoice_id": f"demo-inv-{offer['id']}",
        }
        headers = {"Idempotency-Key": f"demo-redeem-{offer['id']}"}
        answer = await billing.call("POST", "/v1/redemptions", json=body, headers=headers)
        # The ledger redeems from the account's lots that expire first, which may be another
        # offer's: this one then still looks unredeemed, and a re-run's request is answered
        # from the first (replayed), which redeems nothing more.
        made += answer.headers.get("Idempotent-Replayed") != "true"
    return made


async def run_demo(options: Options, console: Console) -> Run:
    """Load the book and drive the platform through its story; returns what was done."""
    async with AsyncExitStack() as clients:

        def client(service: str, key: str) -> Api:
            made = api(options.urls[service], key)
            clients.push_async_callback(made.client.aclose)
            return made

        admins = {s: client(s, options.admin_key) for s in SERVICES}
        run = Run(anchor=await anchor_day(admins["ingest"], options))
        phases = Phases(console, run)
        console.print(
            f"Book: {options.accounts} accounts over the {options.days} days to {run.anchor}"
            f" (seed {options.seed})"
        )
        with phases.timed("keys"):
            keys = await make_keys(admins["ingest"])
        apis = {p: client(PRINCIPALS[p][0], k) for p, k in keys.items()}
        with phases.timed("generate book"):
            accounts = list(book(options.seed, options.accounts, run.anchor, options.days))
        with phases.timed("programs held"):
            held = await hold_programs(apis["demo-ops"])
        try:
            marker = {"anchor": run.anchor.isoformat(), "days": options.days, "seed": options.seed}
            await load(apis, accounts, marker, phases)
            with phases.timed("ingest settles"):
                await settle(admins, options.settle_timeout)
            with phases.timed("scoring history and today"):
                ops_scoring = client("scoring", keys["demo-ops"])
                run.sent["history_days"] = await backfill(ops_scoring, admins, options, run)
        finally:
            await resume_programs(apis["demo-ops"], held)
        with phases.timed("offers decided"):
            run.sent["offers_proposed"] = await evaluate(apis["demo-ops"], options)
            await settle(admins, options.settle_timeout)
        with phases.timed("approvals"):
            run.sent["approvals"] = await approve(apis)
            await settle(admins, options.settle_timeout)
        with phases.timed("redemptions"):
            run.sent["redemptions"] = await redeem(apis)
            await settle(admins, options.settle_timeout)
        return run
