"""What services tell each other: message topics and payloads, and the account vocabulary.

Sender and receiver import the same names from here, so a topic or a payload field cannot
drift between the two ends, and scoring and offers speak of an account as ingest stores it.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.validation import ID_PATTERN, Instant, Text

# An account's facts, as ingest keeps them and scoring and offers read them.
MotionSegment = Literal["smb", "mid_market", "enterprise"]
BillingPeriod = Literal["monthly", "annual", "multi_year"]
AccountStatus = Literal["trial", "active", "paused", "cancelled"]

# The largest amount of money any service holds or moves in one piece, in minor units: far
# past any real credit, and a thousand of them still fit PostgreSQL's 64-bit integers.
MAX_AMOUNT_MINOR = 10**15

ACCOUNTS_CHANGED = "accounts.changed"
# An account id as every service's paths can name it (no slash, no edge space or control).
AccountId = Annotated[Text, Field(min_length=1, max_length=200, pattern=ID_PATTERN)]
Money = Annotated[int, Field(ge=0, le=MAX_AMOUNT_MINOR)]  # integer minor units
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]  # ISO 4217
Count = Annotated[int, Field(ge=0)]


class AccountsChanged(BaseModel):
    """``accounts.changed`` (ingest → scoring): these accounts' signals or facts changed."""

    account_ids: list[AccountId] = Field(max_length=10_000)


# --- What scoring reads from ingest (POST /v1/signals/windows) -------------------------------

TicketSeverity = Literal["low", "medium", "high", "urgent"]


class AccountFacts(BaseModel):
    """An account's facts as ingest stores them (what scoring needs of them)."""

    model_config = ConfigDict(from_attributes=True, extra="ignore")

    external_id: str
    name: str
    motion_segment: MotionSegment
    plan: str | None
    billing_period: BillingPeriod
    mrr_minor: int
    currency: str
    seats_purchased: int
    contract_start: date | None
    renewal_date: date | None
    status: AccountStatus
    champion_user_id: str | None
    cancel_intent: bool


class Counters(BaseModel):
    """Daily rollup counters summed over a trailing window."""

    events: int = 0
    logins: int = 0
    key_actions: int = 0
    integrations: int = 0
    api_calls: int = 0
    exports: int = 0
    tickets_opened: int = 0
    tickets_closed: int = 0
    payment_failures: int = 0
    invoices_paid: int = 0


class SeenDates(BaseModel):
    """The first and last day (up to ``as_of``, over all history) a kind of activity was seen."""

    first: date | None = None
    last: date | None = None


class Survey(BaseModel):
    """An account's newest response of one kind, up to ``as_of``."""

    score: int
    responded_at: AwareDatetime


class AccountWindows(BaseModel):
    """One account's window aggregates as of a UTC day (the day ``as_of`` itself included).

    Window measures are computed over the window, not added up from daily rows: 20 users who
    log in every day of 30 are 20 active users.
    """

    account_id: str
    as_of: date
    account: AccountFacts | None = Field(description="None: ingest does not know the account")
    sum_7: Counters
    sum_30: Counters
    sum_60: Counters
    integrations_total: int = Field(description="Integration events over all days up to as_of")
    active_users_7: int = Field(description="Distinct users active in the 7 days")
    active_users_30: int
    core_features_7: int = Field(description="Distinct core features used in the 7 days")
    core_features_30: int
    seen: dict[Literal["events", "logins", "key_actions", "integrations"], SeenDates]
    key_action_days: int = Field(
        ge=0, lt=2**60, description="Bit i set when day as_of - i had a key action (i = 0..59)"
    )
    weekly_active_users: list[int] = Field(
        min_length=8,
        max_length=8,
        description="Distinct active users per week, 8 weeks, [0] = the 7 days ending as_of",
    )
    champion_last_active: date | None = Field(
        description="Last day (up to as_of) the account's champion user was active"
    )
    paid_months: int = Field(description="Calendar months with an invoice paid, up to as_of")
    open_tickets: dict[TicketSeverity, int] = Field(description="Open now, by severity")
    nps: Survey | None
    csat: Survey | None


class WindowsQuery(BaseModel):
    """Window aggregates for named accounts, or for all accounts a page at a time."""

    model_config = ConfigDict(extra="forbid")

    account_ids: list[AccountId] | None = Field(default=None, min_length=1, max_length=1000)
    after: AccountId | None = Field(
        default=None, description="With no account_ids: accounts after this id, in id order"
    )
    limit: int = Field(default=1000, ge=1, le=1000)
    as_of: date | None = Field(
        default=None, ge=date(1970, 3, 1), le=date(9999, 1, 1), description="Today by default"
    )


class WindowsPage(BaseModel):
    """Window aggregates, in request order (or id order); ``next_after`` continues a walk over
    all accounts (None on its last page)."""

    accounts: list[AccountWindows]
    next_after: str | None = None


# --- What scoring tells offers (snapshot.changed) --------------------------------------------

SNAPSHOT_CHANGED = "snapshot.changed"
Colour = Literal["red", "yellow", "green"]
Tier = Literal["silver", "gold", "platinum"]
Segment = Literal[
    "newly_activated", "power_user", "expansion_ready", "at_risk", "hibernating", "steady"
]
Milestone = Literal[
    "onboarding_complete",
    "first_key_action",
    "first_integration",
    "ten_active_users",
    "key_action_streak_5d",
    "weekly_active_streak_4w",
]
RenewalWindow = Literal[120, 90, 60]
# What may change in a snapshot that a program may care about (PRODUCT §3).
SnapshotChange = Literal[
    "created",
    "segment",
    "tier",
    "colour",
    "milestone",
    "renewal_window",
    "seat_utilization_90",
    "cancel_intent",
    "paid_months",
]


class MeasureScore(BaseModel):
    """One health measure: its raw value, sub-score and what it contributed.

    ``weight`` is the scorecard's; ``effective_weight`` is after spreading the weight of
    measures with no data over the others (a missing measure has 0).
    """

    measure: str
    raw: float | None
    missing: bool
    sub_score: float | None = Field(description="0-100 by the scorecard's thresholds")
    weight: float
    effective_weight: float
    contribution: float = Field(description="sub_score x effective_weight / 100")
    lost: float = Field(description="Points this measure cost: effective_weight - contribution")


class Driver(BaseModel):
    """A measure pulling the score down, by the points it cost."""

    measure: str
    lost: float
    sub_score: float
    raw: float | None


class Rfm(BaseModel):
    """Recency, frequency, monetary, each a quintile 1-5 across active accounts (5 best)."""

    recency_days: int | None = Field(description="Days since the last key action")
    frequency: int = Field(description="Key actions in 30 days")
    monetary_minor: int = Field(description="MRR in minor units")
    r: int
    f: int
    m: int


class ColourOverride(BaseModel):
    """A CSM's colour for an account, in force until it expires."""

    colour: Colour
    reason: str
    expires_at: AwareDatetime
    created_by: str
    created_at: AwareDatetime


class Snapshot(BaseModel):
    """An account's score, as of a day: every number with its reasons.

    These are the fields a program's trigger reads (as ``account.<field>``); offers declares
    its CEL variables from this model.
    """

    account_id: AccountId
    as_of: date
    computed_at: Instant
    scorecard_motion: MotionSegment
    scorecard_version: int = Field(ge=1)
    name: str
    motion_segment: MotionSegment
    plan: str | None
    status: AccountStatus
    billing_period: BillingPeriod
    currency: CurrencyCode
    mrr_minor: Money
    arr_minor: Money
    seats_purchased: Count
    active_seats: int = Field(ge=0, description="Distinct active users in the last 30 days")
    seat_utilization: float | None = Field(
        ge=0, allow_inf_nan=False, description="active_seats / seats_purchased"
    )
    health_score: float | None = Field(
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="0-100, one decimal; None: no measure has data",
    )
    computed_colour: Colour | None
    colour: Colour | None = Field(description="The override's colour while one is in force")
    override: ColourOverride | None
    health_change_7d: float | None = Field(ge=-100, le=100, allow_inf_nan=False)
    health_change_30d: float | None = Field(ge=-100, le=100, allow_inf_nan=False)
    measures: list[MeasureScore]
    drivers: list[Driver] = Field(description="Up to three measures pulling the score down")
    rfm: Rfm
    segment: Segment
    segment_rule: str = Field(description="The rule that placed the account in its segment")
    tier: Tier
    days_since_contract_start: int | None
    days_to_renewal: int | None
    renewal_window: RenewalWindow | None
    paid_months: Count
    cancel_intent: bool
    nps: int | None = Field(ge=0, le=10)
    milestones: dict[Milestone, date] = Field(description="Reached milestones, first date each")


class SnapshotChanged(BaseModel):
    """``snapshot.changed`` (scoring → offers): an account's snapshot changed in a way a
    program may care about."""

    snapshot: Snapshot
    changes: list[SnapshotChange] = Field(min_length=1, max_length=20)


# --- What offers and scoring read from ingest (POST /v1/outcomes/query) ----------------------

# The most accounts one outcomes or MRR query to ingest names: its readers ask in chunks.
ACCOUNTS_PER_QUERY = 1000

OutcomeKind = Literal["renewed", "expanded", "contracted", "churned"]


class Outcome(BaseModel):
    """What happened at one of an account's renewal dates, derived from its fact history
    (the rule: ``services.ingest.domain.outcomes``)."""

    account_id: str
    renewal_date: date
    outcome: OutcomeKind
    mrr_before_minor: int = Field(description="MRR in force just before the renewal date")
    mrr_after_minor: int = Field(
        description="MRR in force at the end of the 7-day grace after it (0 when churned)"
    )
    currency: str = Field(description="The currency of mrr_after_minor")
    currency_before: str = Field(
        description="The currency of mrr_before_minor; when it differs, the amounts are not"
        " compared and the outcome is renewed (or churned)"
    )
    decided_at: datetime = Field(
        description="The history time that decided it: the cancellation, the MRR change in"
        " force at the grace end, or (renewed) the grace end itself"
    )
    final: bool = Field(
        description="Whether the grace has ended by the day asked about; until then the"
        " outcome may still change"
    )


# --- What offers reads from ingest for revenue retention (POST /v1/accounts/mrr) ------------


class MrrQuery(BaseModel):
    """The MRR and currency in force for each of some accounts at each of some instants,
    from the account history."""

    model_config = ConfigDict(extra="forbid")

    account_ids: list[AccountId] = Field(min_length=1, max_length=ACCOUNTS_PER_QUERY)
    at: list[Instant] = Field(
        min_length=1, max_length=10, description="Instants to read the facts in force at"
    )


class MrrAt(BaseModel):
    """An account's facts in force at one instant: the newest history row effective at or
    before it."""

    at: datetime
    mrr_minor: int
    currency: str
    status: AccountStatus = Field(
        description="A cancelled account keeps the MRR it had in its facts: it bills nothing"
    )


class AccountMrr(BaseModel):
    """One account's facts at each instant asked, in the order asked; null before the
    account's history begins (or for an account ingest does not know)."""

    account_id: str
    values: list[MrrAt | None]


class MrrAnswer(BaseModel):
    """Every account asked, in the order asked (duplicates once)."""

    accounts: list[AccountMrr]


# --- What offers asks of the ledger (offers' outbox → the ledger) ----------------------------

GRANT_REQUESTED = "offer.grant_requested"
REVOKE_REQUESTED = "offer.revoke_requested"
_GRANT_KEY_PREFIX = "offer:"
# An offer id fits the ledger's idempotency keys (200 characters) with its prefix.
OfferId = Annotated[Text, Field(min_length=1, max_length=200 - len(_GRANT_KEY_PREFIX))]
ProgramId = Annotated[Text, Field(min_length=1, max_length=200)]


def grant_idempotency_key(offer_id: str) -> str:
    """The key the ledger posts an offer's grant under: one offer, at most one grant."""
    return f"{_GRANT_KEY_PREFIX}{offer_id}"


class GrantRequested(BaseModel):
    """``offer.grant_requested`` (offers → ledger): grant an approved offer's credit.

    The ledger posts it under ``grant_idempotency_key(offer_id)``, so a message delivered
    twice (or an offer approved twice over) grants once.
    """

    offer_id: OfferId
    account_id: AccountId
    program_id: ProgramId
    tier: Tier | None
    unit: str = Field(min_length=1, max_length=40, description="The credit's currency code")
    amount_minor: int = Field(gt=0, le=MAX_AMOUNT_MINOR)
    lasts: timedelta = Field(
        gt=timedelta(0),
        le=timedelta(days=3650),
        description="How long the credit lasts from when the ledger grants it (so a grant"
        " delayed by an outage still lasts its full life)",
    )
    approved_at: Instant


class RevokeRequested(BaseModel):
    """``offer.revoke_requested`` (offers → ledger): reverse what is left unredeemed of an
    offer's grant (what was redeemed stays redeemed). Nothing to reverse is not an error."""

    offer_id: OfferId
    reason: str = Field(min_length=1, max_length=500)
    requested_by: str
    requested_at: Instant


# --- What the ledger tells offers about an offer's credit (the ledger's outbox → offers) -----

CREDIT_MOVED = "credit.moved"
CreditMovementKind = Literal["grant", "redemption", "redemption_reversal", "expiry", "reversal"]


class CreditMoved(BaseModel):
    """``credit.moved`` (ledger → offers): one ledger transaction changed an offer's lot.

    Written in the ledger's transaction that moved it. ``amount_minor`` is what this
    transaction moved (granted, applied to an invoice, given back by a reversed redemption,
    expired to breakage, or reversed by a revoke), never negative; ``remaining_minor`` is what
    is left in the lot after it.
    """

    offer_id: OfferId
    kind: CreditMovementKind
    transaction_id: uuid.UUID
    hash: str = Field(description="The transaction's hash in the ledger's chain")
    amount_minor: int = Field(ge=0)
    remaining_minor: int = Field(ge=0)
    unit: str
    invoice_id: str | None = None
    expires_at: Instant | None = Field(default=None, description="The lot's expiry (grant)")
    effective_at: Instant


class AuditEntry(BaseModel):
    """One change of state by someone, as a service's ``GET /v1/audit`` lists it (newest
    first): the console's audit log merges every service's."""

    at: datetime
    service: str = Field(description="The service that recorded it")
    kind: str = Field(description="What changed and how, e.g. offer.approval, program.edited")
    principal: str = Field(description="Who did it (a person, a key, or a service)")
    subject: str = Field(description="What it was done to: an offer, program, account, motion")
    summary: str | None = Field(description="The comment or reason given, if any")
    detail: dict[str, Any] = Field(default_factory=dict)
