"""What Stripe and generic billing events mean for an account (no floats near money)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.ingest.domain.billing import (
    BillingChange,
    BillingEventError,
    check_applicable,
    generic_subscription_fields,
    monthly_amount,
    stripe_change,
    supersedes,
)
from services.ingest.domain.support import TicketState, TicketUpdate, apply_ticket_update


@pytest.mark.parametrize(
    ("unit", "qty", "interval", "count", "monthly"),
    [
        (12_000, 1, "month", 1, 12_000),
        (12_000, 10, "year", 1, 10_000),
        (10_001, 1, "year", 1, 833),  # 833.4 rounds half up to 833
        (1_000, 1, "month", 3, 333),
        (1_000, 1, "week", 1, 4_333),
        (999_999_999_999, 1000, "year", 1, 83_333_333_333_250),
    ],
)
def test_monthly_amount_is_exact_integer_arithmetic(
    unit: int, qty: int, interval: str, count: int, monthly: int
) -> None:
    assert monthly_amount(unit, qty, interval, count) == monthly


def test_stripe_subscription_maps_seats_period_mrr_status_and_cancel_intent() -> None:
    event = {
        "type": "customer.subscription.updated",
        "created": 1_700_000_000,
        "data": {
            "object": {
                "customer": "cus_1",
                "status": "trialing",
                "cancel_at_period_end": True,
                "current_period_end": 1_798_761_600,
                "items": {
                    "data": [
                        {
                            "quantity": 5,
                            "price": {
                                "unit_amount": 2_000,
                                "currency": "eur",
                                "recurring": {"interval": "month"},
                            },
                        },
                        {
                            "quantity": 2,
                            "price": {"unit_amount": 500, "recurring": {"interval": "month"}},
                        },
                    ]
                },
            }
        },
    }
    change = stripe_change(event)
    assert change.fields == {
        "seats_purchased": 7,
        "mrr_minor": 11_000,
        "cancel_intent": True,
        "status": "trial",
        "billing_period": "monthly",
        "currency": "EUR",
        "renewal_date": date(2027, 1, 1),
    }


def test_deleted_subscription_is_cancelled_and_bad_prices_are_named() -> None:
    base = {"created": 1, "data": {"object": {"customer": "c", "items": {"data": []}}}}
    deleted = stripe_change({**base, "type": "customer.subscription.deleted"})
    assert deleted.fields["status"] == "cancelled"
    bad = {
        "created": 1,
        "type": "customer.subscription.updated",
        "data": {"object": {"items": {"data": [{"price": {"unit_amount": 1.5}}]}}},
    }
    with pytest.raises(BillingEventError) as caught:
        stripe_change(bad)
    assert caught.value.field == "data.object.items.price.unit_amount"


def test_generic_fields_are_type_checked() -> None:
    assert generic_subscription_fields({"seats_purchased": 3, "currency": "usd"}) == {
        "seats_purchased": 3,
        "currency": "USD",
    }
    for bad in (
        {"seats_purchased": True},
        {"mrr_minor": -1},
        {"billing_period": "weekly"},
        {"renewal_date": "soon"},
        {"mrr_minor": 10.5},
    ):
        with pytest.raises(BillingEventError):
            generic_subscription_fields(bad)


def _at(day: int) -> TicketUpdate:
    return TicketUpdate("open", "high", datetime(2026, 11, day, tzinfo=UTC))


def test_ticket_updates_count_transitions_once() -> None:
    opened = apply_ticket_update(None, _at(1))
    assert opened.opened_on == date(2026, 11, 1)
    state = opened.state
    assert state is not None
    assert apply_ticket_update(state, _at(1)).state is None  # a repeat changes nothing
    closing = TicketUpdate("closed", "high", _at(3).at)
    closed = apply_ticket_update(state, closing)
    assert closed.closed_on == date(2026, 11, 3)
    assert closed.state is not None
    stale = apply_ticket_update(closed.state, _at(2))
    assert stale.state is None
    reopened = apply_ticket_update(closed.state, _at(5))
    assert reopened.opened_on == date(2026, 11, 5)
    assert reopened.state == TicketState("open", "high", _at(5).at, None, _at(5).at)


def test_billing_values_past_the_account_columns_are_refused_on_arrival() -> None:
    with pytest.raises(BillingEventError) as caught:
        generic_subscription_fields({"seats_purchased": 3_000_000_000})
    assert caught.value.field == "data.seats_purchased"
    with pytest.raises(BillingEventError) as caught:
        generic_subscription_fields({"mrr_minor": 2**63})
    assert caught.value.field == "data.mrr_minor"
    item = {"quantity": 2_000_000_000, "price": {"unit_amount": 1}}
    event = {
        "type": "customer.subscription.updated",
        "created": 1,
        "data": {"object": {"customer": "c", "items": {"data": [item, item]}}},
    }
    with pytest.raises(BillingEventError) as caught:
        stripe_change(event)
    assert caught.value.field == "data.object.items.quantity"


@pytest.mark.parametrize(
    "obj",
    [
        {"items": []},
        {"items": {"data": {}}},
        {"items": {"data": ["x"]}},
        {"items": {"data": [{"price": "p"}]}},
        {"items": {"data": [{"quantity": "3", "price": {"unit_amount": 1}}]}},
        {"items": {"data": [{"quantity": -1, "price": {"unit_amount": 1}}]}},
        {"items": {"data": [{"price": {"unit_amount": 1, "recurring": {"interval_count": 0}}}]}},
        {"items": {"data": [{"price": {"unit_amount": 1, "recurring": {"interval_count": "x"}}}]}},
        {"items": {"data": [{"price": {"unit_amount": True}}]}},
        {"current_period_end": 10**20},
    ],
)
def test_malformed_stripe_objects_are_named_errors_not_crashes(obj: dict[str, object]) -> None:
    event = {
        "type": "customer.subscription.updated",
        "created": 1,
        "data": {"object": {"customer": "c", **obj}},
    }
    with pytest.raises(BillingEventError):
        stripe_change(event)
    with pytest.raises(BillingEventError):
        stripe_change({**event, "created": 10**20})
    with pytest.raises(BillingEventError):
        stripe_change({**event, "data": "nope"})


def test_a_renewal_before_the_contract_start_cannot_apply() -> None:
    change = BillingChange(
        "subscription", datetime(2026, 1, 1, tzinfo=UTC), {"renewal_date": date(2025, 6, 1)}
    )
    with pytest.raises(BillingEventError, match="contract start"):
        check_applicable(change, date(2026, 1, 1))
    check_applicable(change, date(2025, 1, 1))
    check_applicable(change, None)


def test_older_subscription_facts_lose_to_those_applied_already() -> None:
    applied = datetime(2026, 11, 10, 12, tzinfo=UTC)
    older = BillingChange("subscription", datetime(2026, 11, 10, 11, tzinfo=UTC), {})
    same = BillingChange("subscription", applied, {})
    assert supersedes(older, None)  # nothing applied yet
    assert not supersedes(older, applied)
    assert supersedes(same, applied)
