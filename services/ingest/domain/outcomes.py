"""What happened at each renewal, derived from an account's fact history (no I/O, no clock).

The rule, for one account and a day ``today`` (a parameter: the caller says which day):

- **Which renewals.** Every distinct ``renewal_date`` the account's history ever held that is
  strictly before ``today`` and was in force on the day it passed: the renewal date in force
  just before that day began (changes effective before 00:00 UTC of the date), or set by a
  change effective during that day, was that date. A renewal date moved to another before its
  day came does not count; one rolled forward on or after its day (billing moving to the next
  period) does. No renewal date, no outcome.
- **The moments.** A renewal date ``D`` is the instant ``D 00:00 UTC``. *Before* it is the
  facts in force just before that instant (changes effective strictly before it; when the
  history starts on ``D`` itself, the first facts recorded that day). *After* it is the facts in
  force at the grace end ``D 00:00 UTC + 7 days``, changes effective at that very instant
  included: the grace lets the billing system catch up.
- **churned** when the status in force at the grace end is ``cancelled``: cancelled on or
  before the renewal date, or within the grace, and not reinstated by its end (a cancellation
  undone within the grace is no churn; one after the grace belongs to the next renewal).
  ``mrr_after_minor`` is 0 (a churned account keeps no revenue, whatever MRR its last facts
  show), ``decided_at`` is when the status became ``cancelled`` (the start of the cancelled
  run in force at the grace end).
- Otherwise MRR before against MRR after: **expanded** if higher, **contracted** if lower,
  **renewed** if equal. ``decided_at`` is when the MRR in force at the grace end took effect
  (the earliest change at or after ``D`` from which it held); for renewed, the grace end.
- A **currency change** across the renewal makes the amounts incomparable (no exchange
  rates here): the outcome is renewed, with both currencies given.
- ``final`` says whether the grace had ended by the start of ``today``; until then the
  outcome is what the history says so far.

Times are compared as instants; history is given in history order, ``(effective_at, id)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from services.ingest.domain.history import Recorded, in_force
from shared.contracts import Outcome, OutcomeKind

GRACE = timedelta(days=7)
ONE_DAY = timedelta(days=1)


def start_of(day: date) -> datetime:
    """00:00 UTC of ``day``: the instant a date stands for."""
    return datetime.combine(day, time.min, UTC)


def _before(history: Sequence[Recorded], at: datetime) -> Recorded | None:
    found = None
    for row in history:
        if row.effective_at >= at:
            break
        found = row
    return found


def _on_day(history: Sequence[Recorded], start: datetime) -> list[Recorded]:
    """The rows in force at some moment of the day beginning at ``start``."""
    end = start + ONE_DAY
    held = [row for row in history if start <= row.effective_at < end]
    before = _before(history, start)
    return [before, *held] if before is not None else held


def _run_start(
    history: Sequence[Recorded], last: Recorded, field: str, since: datetime | None
) -> datetime:
    """When ``last``'s value of ``field`` took effect: the earliest row at or after ``since``
    from which it held without a break up to ``last``."""
    index = next(i for i, row in enumerate(history) if row is last)
    started = last.effective_at
    for row in reversed(history[:index]):
        if row.facts[field] != last.facts[field] or (
            since is not None and row.effective_at < since
        ):
            break
        started = row.effective_at
    return started


def renewal_outcomes(account_id: str, history: Sequence[Recorded], today: date) -> list[Outcome]:
    """The outcomes of the account's passed renewal dates, oldest first (see the module)."""
    dates = sorted(
        {
            row.facts["renewal_date"]
            for row in history
            if row.facts["renewal_date"] is not None and row.facts["renewal_date"] < today
        }
    )
    outcomes = []
    for day in dates:
        start = start_of(day)
        on_day = _on_day(history, start)
        if not any(row.facts["renewal_date"] == day for row in on_day):
            continue
        before = _before(history, start) or on_day[0]
        grace_end = start + GRACE
        after = in_force(history, grace_end)
        assert after is not None  # the day's rows are in force by then
        kind: OutcomeKind
        mrr_after = after.facts["mrr_minor"]
        if after.facts["status"] == "cancelled":
            kind, mrr_after = "churned", 0
            decided_at = _run_start(history, after, "status", None)
        elif (
            after.facts["currency"] != before.facts["currency"]
            or mrr_after == before.facts["mrr_minor"]
        ):
            kind, decided_at = "renewed", grace_end
        else:
            kind = "expanded" if mrr_after > before.facts["mrr_minor"] else "contracted"
            decided_at = _run_start(history, after, "mrr_minor", start)
        outcomes.append(
            Outcome(
                account_id=account_id,
                renewal_date=day,
                outcome=kind,
                mrr_before_minor=before.facts["mrr_minor"],
                mrr_after_minor=mrr_after,
                currency=after.facts["currency"],
                currency_before=before.facts["currency"],
                decided_at=decided_at,
                final=grace_end <= start_of(today),
            )
        )
    return outcomes
