"""Applying stored webhook events to their accounts (or keeping them until they can be)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.domain.billing import (
    PAYMENT_COUNTERS,
    BillingChange,
    BillingEventError,
    check_applicable,
    generic_subscription_fields,
    stripe_change,
    supersedes,
)
from services.ingest.models import Account, WebhookEvent
from services.ingest.repository import accounts as accounts_repo
from services.ingest.repository import rejected as rejected_repo
from services.ingest.repository import rollups as rollups_repo
from services.ingest.repository import webhooks as webhooks_repo
from services.ingest.schemas.support import SurveyIn, TicketIn
from services.ingest.service.changes import notify_changed
from services.ingest.service.history import record_billing, tracked_facts
from services.ingest.service.support import apply_ticket, store_survey
from shared.database_errors import database_error_message, database_error_state


async def webhook_account(
    session: AsyncSession, provider: str, customer_ref: str
) -> Account | None:
    """The account a webhook event is for, locked: by Stripe customer, or by account id."""
    if provider == "stripe":
        return await accounts_repo.account_by_stripe_customer(session, customer_ref)
    return await accounts_repo.account_for_update(session, customer_ref)


async def apply_webhook(
    session: AsyncSession, row: Mapping[str, Any], account: Account
) -> BillingEventError | None:
    """Apply a stored webhook event to its account and mark it applied, or say why it cannot.

    It is applied in a savepoint: one that the rules or the database refuse (a renewal
    before the contract start, say) is undone alone, and whatever request brought it here
    (an account upsert that made it applicable) goes on.
    """
    try:
        async with session.begin_nested():
            origin = (row["provider"], row["event_id"])
            if row["provider"] == "stripe":
                change = stripe_change(row["payload"])
                await _apply_change(session, account, change, origin)
            else:
                data = row["payload"]["data"]
                await _apply_generic(
                    session, account, row["type"], data, row["occurred_at"], origin
                )
    except BillingEventError as exc:
        return exc
    except DBAPIError as exc:
        if not (database_error_state(exc) or "").startswith(("22", "23")):
            raise
        return BillingEventError("", database_error_message(exc))
    await webhooks_repo.mark_webhook(session, row["source_id"], row["event_id"], applied=True)
    return None


async def reject_webhook(
    session: AsyncSession, row: Mapping[str, Any], problem: BillingEventError
) -> None:
    """Keep a webhook event that cannot apply as rejected, with its reason, for a replay."""
    await webhooks_repo.mark_webhook(session, row["source_id"], row["event_id"], applied=False)
    await rejected_repo.insert_rejections(
        session,
        [
            {
                "source": f"webhook:{row['source_id']}",
                "event_id": row["event_id"],
                "reason": problem.reason,
                "field": problem.field,
                "raw": row["payload"],
            }
        ],
    )


def generic_ticket(data: dict[str, Any], kind: str, occurred: datetime) -> TicketIn:
    """The ticket update a generic ``ticket.opened``/``ticket.closed`` event reports."""
    return TicketIn.model_validate(
        {
            "ticket_id": data.get("ticket_id"),
            "account_id": data.get("account_id"),
            "status": "open" if kind == "ticket.opened" else "closed",
            "severity": data.get("severity", "medium"),
            "occurred_at": occurred,
        }
    )


def generic_survey(data: dict[str, Any], occurred: datetime) -> SurveyIn:
    """The survey response a generic ``survey.responded`` event reports."""
    return SurveyIn.model_validate({**data, "responded_at": data.get("responded_at", occurred)})


async def _apply_generic(
    session: AsyncSession,
    account: Account,
    kind: str,
    data: dict[str, Any],
    occurred: datetime,
    origin: tuple[str, str],
) -> None:
    if kind == "subscription.updated":
        change = BillingChange("subscription", occurred, generic_subscription_fields(data))
        await _apply_change(session, account, change, origin)
    elif kind == "payment.failed":
        change = BillingChange("payment_failed", occurred, {})
        await _apply_change(session, account, change, origin)
    elif kind == "invoice.paid":
        await _apply_change(session, account, BillingChange("invoice_paid", occurred, {}), origin)
    elif kind.startswith("ticket."):
        await apply_ticket(session, generic_ticket(data, kind, occurred))
    else:
        await store_survey(session, generic_survey(data, occurred))


async def _apply_change(
    session: AsyncSession, account: Account, change: BillingChange, origin: tuple[str, str]
) -> None:
    """Apply a billing change; subscription facts older than those applied already lose
    (and, changing nothing, record nothing). What an applied one changed is recorded in the
    account's history at the time it occurred, with its provider and event id."""
    if change.kind == "subscription":
        if supersedes(change, account.billing_updated_at):
            check_applicable(change, account.contract_start)
            before = tracked_facts(account)
            for name, value in change.fields.items():
                setattr(account, name, value)
            account.billing_updated_at = change.occurred_at
            account.updated_at = datetime.now(UTC)
            await session.flush()
            await record_billing(
                session,
                account,
                occurred_at=change.occurred_at,
                before_change=before,
                fields=change.fields,
                source=origin[0],
                event_id=origin[1],
            )
    else:
        day = change.occurred_at.date()
        counter = PAYMENT_COUNTERS[change.kind]
        await rollups_repo.add_counters(session, [(account.external_id, day, counter)])
    notify_changed(session, {account.external_id})


async def apply_pending_webhooks(session: AsyncSession, account_ids: Sequence[str]) -> None:
    """Apply webhook events that were waiting for these accounts (or their Stripe mapping).

    One that cannot apply is rejected with its reason (see ``apply_webhook``): it never
    stops the account from being written.
    """
    customers = await accounts_repo.stripe_customers_of(session, account_ids)
    rows = [
        *await webhooks_repo.pending_webhook_events(session, "stripe", customers),
        *await webhooks_repo.pending_webhook_events(session, "standard_webhooks", account_ids),
    ]
    for row in rows:
        stored = webhook_row(row)
        account = await webhook_account(session, row.provider, row.customer_ref)
        if account is not None:
            problem = await apply_webhook(session, stored, account)
            if problem is not None:
                await reject_webhook(session, stored, problem)


def webhook_row(row: WebhookEvent) -> dict[str, Any]:
    """A stored webhook event as the row ``apply_webhook`` and ``reject_webhook`` take."""
    return {
        "event_id": row.event_id,
        "source_id": row.source_id,
        "provider": row.provider,
        "type": row.type,
        "customer_ref": row.customer_ref,
        "occurred_at": row.occurred_at,
        "payload": row.payload,
    }
