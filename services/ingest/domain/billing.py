"""What billing events (Stripe's, or the generic Standard Webhooks shape) mean for an account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from fractions import Fraction
from typing import Any, get_args

from shared.contracts import AccountStatus, BillingPeriod

BILLING_PERIODS: tuple[str, ...] = get_args(BillingPeriod)
ACCOUNT_STATUSES: tuple[str, ...] = get_args(AccountStatus)

STRIPE_SUBSCRIPTION_EVENTS = frozenset(
    {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
    }
)
STRIPE_INVOICE_EVENTS = frozenset({"invoice.paid", "invoice.payment_failed"})
STRIPE_EVENTS = STRIPE_SUBSCRIPTION_EVENTS | STRIPE_INVOICE_EVENTS
# The types of the generic (Standard Webhooks) shape ``{type, data}``.
GENERIC_EVENT_TYPES = (
    "subscription.updated",
    "payment.failed",
    "invoice.paid",
    "ticket.opened",
    "ticket.closed",
    "survey.responded",
)

# Stripe subscription status -> Tenure account status.
_STATUS = {
    "trialing": "trial",
    "active": "active",
    "past_due": "active",
    "unpaid": "active",
    "incomplete": "trial",
    "paused": "paused",
    "canceled": "cancelled",
    "incomplete_expired": "cancelled",
}


# What the account columns hold (integer and bigint): a billing event beyond them is refused
# when it arrives, not when it is applied.
MAX_SEATS = 2_147_483_647
MAX_MRR_MINOR = 9_223_372_036_854_775_807


class BillingEventError(ValueError):
    """A billing event whose content cannot be used; names the field."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class BillingChange:
    """What one billing event does: new subscription facts, or a payment outcome."""

    kind: str  # "subscription", "payment_failed", "invoice_paid"
    occurred_at: datetime
    fields: dict[str, Any]


# The daily rollup counter each payment outcome adds one to.
PAYMENT_COUNTERS = {"payment_failed": "payment_failures", "invoice_paid": "invoices_paid"}


def supersedes(change: BillingChange, billing_updated_at: datetime | None) -> bool:
    """Whether a subscription change's facts replace those applied at ``billing_updated_at``:
    billing events arrive out of order, and facts older than those applied already lose."""
    return billing_updated_at is None or change.occurred_at >= billing_updated_at


# How many of each billing interval fall in one month, as exact fractions (never floats).
_PER_MONTH = {
    "month": Fraction(1),
    "year": Fraction(1, 12),
    "week": Fraction(52, 12),
    "day": Fraction(365, 12),
}


def monthly_amount(unit_amount: int, quantity: int, interval: str, count: int) -> int:
    """A recurring price as monthly minor units, rounded half up (a yearly price over 12)."""
    exact = unit_amount * quantity * _PER_MONTH[interval] / count
    return int(exact + Fraction(1, 2))


def _period(interval: str, count: int) -> str:
    if interval == "year":
        return "multi_year" if count > 1 else "annual"
    return "monthly"


def _unix_time(value: Any, field: str) -> datetime:
    if not isinstance(value, int) or isinstance(value, bool):
        raise BillingEventError(field, "must be a Unix timestamp")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise BillingEventError(field, "is outside the range of representable times") from None


def _member(parent: Any, key: str, field: str, kind: type, default: Any) -> Any:
    """``parent[key]`` of type ``kind`` (``default`` when absent or null), or a named error."""
    value = parent.get(key) if isinstance(parent, dict) else None
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BillingEventError(field, f"must be {_KIND_NAMES[kind]}")
    return value


_KIND_NAMES = {dict: "an object", list: "a list", int: "an integer", str: "a string"}


def _bounded(total: int, bound: int, field: str) -> int:
    if total > bound:
        raise BillingEventError(field, f"adds up to more than {bound}")
    return total


def stripe_customer(event: dict[str, Any]) -> str:
    """The Stripe customer id a Stripe event is about."""
    obj = _member(_member(event, "data", "data", dict, {}), "object", "data.object", dict, {})
    customer = obj.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    if not isinstance(customer, str) or not customer:
        raise BillingEventError("data.object.customer", "the event names no customer")
    if len(customer) > 200:
        raise BillingEventError("data.object.customer", "must be at most 200 characters")
    return customer


def stripe_change(event: dict[str, Any]) -> BillingChange:
    """Read a Stripe event of a handled type into a ``BillingChange``."""
    kind = event.get("type")
    occurred = _unix_time(event.get("created"), "created")
    obj = _member(event.get("data"), "object", "data.object", dict, None)
    if obj is None:
        raise BillingEventError("data.object", "must be an object")
    if kind == "invoice.payment_failed":
        return BillingChange("payment_failed", occurred, {})
    if kind == "invoice.paid":
        return BillingChange("invoice_paid", occurred, {})
    if kind not in STRIPE_SUBSCRIPTION_EVENTS:
        raise BillingEventError("type", f"'{kind}' is not handled")
    items_field = "data.object.items.data"
    items = _member(
        _member(obj, "items", "data.object.items", dict, {}), "data", items_field, list, []
    )
    seats, mrr, period, currency = 0, 0, None, obj.get("currency")
    for item in items:
        if not isinstance(item, dict):
            raise BillingEventError(items_field, "must hold objects")
        price = _member(item, "price", "data.object.items.price", dict, {})
        where = "data.object.items.price.recurring"
        recurring = _member(price, "recurring", where, dict, {})
        interval = recurring.get("interval", "month")
        count = _member(recurring, "interval_count", where + ".interval_count", int, 1)
        quantity = _member(item, "quantity", "data.object.items.quantity", int, 1)
        unit_amount = price.get("unit_amount")
        if not isinstance(unit_amount, int) or isinstance(unit_amount, bool) or unit_amount < 0:
            raise BillingEventError("data.object.items.price.unit_amount", "must be an integer")
        if interval not in ("day", "week", "month", "year"):
            raise BillingEventError(where + ".interval", "is unknown")
        if count < 1:
            raise BillingEventError(where + ".interval_count", "must be at least 1")
        if quantity < 0:
            raise BillingEventError("data.object.items.quantity", "must not be negative")
        seats += quantity
        mrr += monthly_amount(unit_amount, quantity, interval, count)
        period = period or _period(interval, count)
        currency = currency or price.get("currency")
    fields: dict[str, Any] = {
        "seats_purchased": _bounded(seats, MAX_SEATS, "data.object.items.quantity"),
        "mrr_minor": _bounded(mrr, MAX_MRR_MINOR, "data.object.items.price.unit_amount"),
        "cancel_intent": bool(obj.get("cancel_at_period_end")),
        "status": "cancelled"
        if kind == "customer.subscription.deleted"
        else _STATUS.get(str(obj.get("status")), "active"),
    }
    if period:
        fields["billing_period"] = period
    if isinstance(currency, str) and len(currency) == 3 and currency.isascii():
        fields["currency"] = currency.upper()
    period_end = obj.get("current_period_end") or (
        items[0].get("current_period_end") if items else None
    )
    if isinstance(period_end, int):
        fields["renewal_date"] = _unix_time(period_end, "data.object.current_period_end").date()
    return BillingChange("subscription", occurred, fields)


GENERIC_SUBSCRIPTION_FIELDS = {
    "seats_purchased": int,
    "mrr_minor": int,
    "billing_period": str,
    "currency": str,
    "status": str,
    "renewal_date": str,
    "cancel_intent": bool,
}


_GENERIC_BOUNDS = {"seats_purchased": MAX_SEATS, "mrr_minor": MAX_MRR_MINOR}


# The account fields the billing system owns once it has reported for an account: from then
# on a CRM upsert's copy of them is not taken (billing is where they change first).
BILLING_OWNED_FIELDS = frozenset(GENERIC_SUBSCRIPTION_FIELDS)


def crm_sets(field: str, billing_updated_at: datetime | None) -> bool:
    """Whether a CRM upsert's value of an account field is taken: once billing has reported
    for the account (``billing_updated_at`` set), the fields it owns follow billing only."""
    return field not in BILLING_OWNED_FIELDS or billing_updated_at is None


def generic_subscription_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The account fields a generic ``subscription.updated`` event sets, type-checked."""
    fields: dict[str, Any] = {}
    for name, kind in GENERIC_SUBSCRIPTION_FIELDS.items():
        if name not in data:
            continue
        value = data[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise BillingEventError(f"data.{name}", f"must be a {kind.__name__}")
        if isinstance(value, int) and not isinstance(value, bool) and value < 0:
            raise BillingEventError(f"data.{name}", "must not be negative")
        bound = _GENERIC_BOUNDS.get(name)
        if bound is not None and isinstance(value, int) and value > bound:
            raise BillingEventError(f"data.{name}", f"must be at most {bound}")
        fields[name] = value
    if "renewal_date" in fields:
        try:
            fields["renewal_date"] = date.fromisoformat(fields["renewal_date"])
        except ValueError as exc:
            raise BillingEventError("data.renewal_date", "must be a date") from exc
    if fields.get("billing_period", "monthly") not in BILLING_PERIODS:
        raise BillingEventError(
            "data.billing_period", f"must be one of {', '.join(BILLING_PERIODS)}"
        )
    if fields.get("status", "active") not in ACCOUNT_STATUSES:
        raise BillingEventError("data.status", f"must be one of {', '.join(ACCOUNT_STATUSES)}")
    if "currency" in fields:
        if len(fields["currency"]) != 3 or not fields["currency"].isalpha():
            raise BillingEventError("data.currency", "must be an ISO 4217 code")
        fields["currency"] = fields["currency"].upper()
    return fields


def check_applicable(change: BillingChange, contract_start: date | None) -> None:
    """Raise ``BillingEventError`` when a subscription change cannot apply to an account that
    started its contract on ``contract_start`` (its renewal must come after the start)."""
    renewal = change.fields.get("renewal_date")
    if renewal is not None and contract_start is not None and renewal <= contract_start:
        raise BillingEventError(
            "renewal_date",
            f"the renewal date {renewal} is not after the account's contract start"
            f" {contract_start}",
        )
