"""The ledger's write path: every money movement is a balanced, chained, append-only transaction.

Writes are applied in groups, one database transaction per group: the group claims its
idempotency keys, locks the chain heads it touches (in id order, so groups never deadlock),
plans each write in order against a ``Book`` of that locked state, and writes everything the
book ends with in one statement. A single request is a group of whatever concurrent requests
the ``GroupWriter`` gathered while the previous group was in the database; a batch is a group
of its own. Either way a group costs a handful of round trips however many writes it holds,
and a write that fails the whole group is retried on its own so it cannot sink the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import structlog

from services.ledger.domain.book import Book
from services.ledger.domain.needs import Needs, accounts_of, add_needs
from services.ledger.domain.planning import plan_write
from services.ledger.domain.writes import Outcome, WriteOp, refused
from services.ledger.rendering import utc_now
from services.ledger.repository import book as book_repo
from services.ledger.repository import groups as repo
from services.ledger.schemas import ReversalIn
from shared.errors import FieldError, Forbidden, KeyInFlight, KeyReused, TenureError

_log = structlog.get_logger("tenure.ledger.writer")


async def apply_group(conn: repo.Conn, ops: Sequence[WriteOp]) -> list[Outcome]:
    """Apply writes in one database transaction on ``conn``; one outcome per write, in order.

    Keys: a key another transaction holds is a 409 (in flight); a key that already holds a
    response replays it (or is a 422 if the request differs); a key repeated within the group
    answers like a retry of its first use. A refusal (404, 409, 422) is kept under its key
    like a success (a 403 is not). Raises if the transaction fails; nothing is then written.
    """
    outcomes: list[Outcome | None] = [None] * len(ops)
    marks = [op.fingerprint() if op.key is not None else "" for op in ops]
    async with conn.transaction():
        keyed = [i for i, op in enumerate(ops) if op.key is not None]
        pairs = [_pair(ops[i]) for i in keyed]
        opened = utc_now()  # a grant already expired creates no accounts
        accounts = [row for op in ops for row in accounts_of(op, opened)]
        claims = await repo.open_group(conn, pairs, accounts)
        first: dict[tuple[str, str], int] = {}
        repeats: list[tuple[int, int]] = []
        for i, pair, (held, stored) in zip(keyed, pairs, claims, strict=True):
            if not held:
                error = KeyInFlight(
                    "A request with this Idempotency-Key is still in progress; retry shortly."
                )
                outcomes[i] = refused(error, ops[i])
            elif stored is not None:
                outcomes[i] = _replay(stored, marks[i], ops[i])
            elif pair in first:
                repeats.append((i, first[pair]))
            else:
                first[pair] = i
        todo = [i for i, op in enumerate(ops) if op.key is None or first.get(_pair(op)) == i]

        originals = await repo.transaction_rows(
            conn,
            [b.transaction_id for b in (ops[i].body for i in todo) if isinstance(b, ReversalIn)],
        )
        needs = Needs()
        for i in todo:
            add_needs(ops[i], originals, needs)
        heads = await repo.lock_heads(conn, sorted(needs.heads))
        # Read the clock once the heads are locked: a chain's entries then never go back in
        # time, and every write in the group sees the same lots as expired or not.
        now = utc_now()
        lots = []
        if needs.fifo or needs.due or needs.lots_created_by or needs.lot_ids:
            lots = await repo.load_lots(
                conn,
                now=now,
                fifo=needs.fifo,
                due=needs.due,
                created_by=sorted(needs.lots_created_by),
                ids=sorted(needs.lot_ids),
            )
        reversed_ids = await repo.reversed_among(conn, sorted(needs.reversal_of))
        book = Book.of(heads, lots, reversed_ids, now)

        kept: list[book_repo.KeptResponse] = []
        request_ids: dict[uuid.UUID, str | None] = {}
        for i in todo:
            op = ops[i]
            planned = len(book.entries)
            try:
                status, result = plan_write(book, op, originals)
                outcomes[i] = Outcome(status, result)
            except TenureError as exc:
                outcomes[i] = refused(exc, op)
            # The transactions this write made carry its request into the outbox.
            for entry in book.entries[planned:]:
                request_ids[entry.fields["id"]] = op.request_id
            done = outcomes[i]
            assert done is not None
            # A refusal for want of a scope is not kept: the principal may be given the
            # scope, and its retry with the same key should then run.
            if op.key is not None and not isinstance(done.refusal, Forbidden):
                kept.append(
                    book_repo.KeptResponse(op.principal, op.key, marks[i], done.status, done.body)
                )
        for i, j in repeats:
            done = outcomes[j]
            assert done is not None
            outcomes[i] = _replay(
                repo.StoredResponse(marks[j], done.status, done.body), marks[i], ops[i]
            )
        if book.entries or kept:
            await book_repo.write_book(conn, book, kept, request_ids)
    return [o for o in outcomes if o is not None]


def _pair(op: WriteOp) -> tuple[str, str]:
    return (op.principal, op.key or "")


def _replay(stored: repo.StoredResponse, mark: str, op: WriteOp) -> Outcome:
    """A retry: the first response again, unless the key was used for another request."""
    if stored.fingerprint != mark:
        error = KeyReused(
            "This Idempotency-Key was used with a different request.",
            errors=[FieldError(detail="reused with other parameters", parameter="Idempotency-Key")],
        )
        return refused(error, op)
    return Outcome(stored.status, stored.body, replayed=True)


async def apply_each(conn: repo.Conn, ops: Sequence[WriteOp]) -> list[Outcome | Exception]:
    """Apply a group; if its transaction fails, apply each write again on its own.

    A write that breaks the group's transaction (a deadlock, a bug) then fails alone, and
    its exception is its outcome; one that met a request with its key committing at that
    very moment (see ``repo.open_group``) now finds that request's response.
    """
    try:
        return list(await apply_group(conn, ops))
    except Exception as exc:
        if conn.is_closed():
            return [exc] * len(ops)
        _log.warning("write_group_failed", writes=len(ops), error=type(exc).__name__)
    results: list[Outcome | Exception] = []
    for op in ops:
        try:
            results.extend(await apply_group(conn, [op]))
        except Exception as exc:
            results.append(exc)
    return results


_DRAIN_SECONDS = 5.0

# Every statement of the write path probes rows by key: ``= ANY`` over the group's array, or
# ``unnest`` joined on a key. The plan cache keeps a generic plan after five runs, planned
# for the tables as they were then; planned while the ledger was small, it scanned
# ledger_accounts and lots whole and matched each row against the array one element at a
# time (400 ms to lock 500 heads among 40,000 accounts rather than 2 ms), and it stayed
# until an ANALYZE happened to replace it: the batched benchmark ran at full speed or at a
# fraction of it, on the same code. Custom plans (plan_cache_mode = force_custom_plan) are
# no cure: they replan the foreign-key checks of every row written too (90 ms of a group of
# 500 grants, not 20), and still prefer scans while page costs are the default. Refusing
# sequential scans makes each cached plan the index probe it is meant to be, at any size.
WRITER_SETTINGS = {"enable_seqscan": "off"}


async def connect(dsn: str) -> repo.Conn:
    """A connection for the group writer, whose cached plans probe by key (see above)."""
    return await asyncpg.connect(dsn, server_settings=WRITER_SETTINGS)


@dataclass(frozen=True)
class _Queued:
    ops: list[WriteOp]
    future: asyncio.Future[list[Outcome | Exception]]


class GroupWriter:
    """Applies every ledger write, in groups, on connections of its own.

    Concurrent requests queue up while the groups in flight are in the database and go
    together in the next group: under load they share round trips and the commit; alone, a
    request goes straight through with no added wait. Each group in flight keeps one
    database connection, so a group costs no pool checkout.
    """

    def __init__(self, dsn: str, *, group_size: int, concurrency: int) -> None:
        self._dsn = dsn
        self._group_size = group_size
        self._queue: asyncio.Queue[_Queued] = asyncio.Queue()
        self._tasks = [
            asyncio.create_task(self._run(), name=f"ledger-writer-{n}") for n in range(concurrency)
        ]

    async def submit(self, op: WriteOp) -> Outcome:
        """Apply one write (in whatever group it joins) and return its outcome."""
        (result,) = await self.apply([op])
        if isinstance(result, Exception):
            raise result
        return result

    async def apply(self, ops: Sequence[WriteOp]) -> list[Outcome | Exception]:
        """Apply writes together (a batch); each one's outcome, or the exception it failed on."""
        future: asyncio.Future[list[Outcome | Exception]] = (
            asyncio.get_running_loop().create_future()
        )
        self._queue.put_nowait(_Queued(list(ops), future))
        # A caller that goes away does not take the write with it: it finishes, and a retry
        # with the same key gets its response.
        return await asyncio.shield(future)

    async def close(self) -> None:
        """Finish the writes already queued (for a few seconds at most), then stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), _DRAIN_SECONDS)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        conn = None
        try:
            while True:
                taken = [await self._queue.get()]
                size = len(taken[0].ops)
                while size < self._group_size and not self._queue.empty():
                    taken.append(self._queue.get_nowait())
                    size += len(taken[-1].ops)
                ops = [op for queued in taken for op in queued.ops]
                try:
                    if conn is None or conn.is_closed():
                        conn = await connect(self._dsn)
                    results = await apply_each(conn, ops)
                except Exception as exc:  # no connection: every write in the group fails
                    results = [exc] * len(ops)
                for queued in taken:
                    mine, results = results[: len(queued.ops)], results[len(queued.ops) :]
                    if not queued.future.done():
                        queued.future.set_result(mine)
                    self._queue.task_done()
        finally:
            if conn is not None:
                await conn.close()
