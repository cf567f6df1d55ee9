"""The signals query and its answer."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from services.ingest.schemas.accounts import AccountOut
from shared.contracts import AccountId


class RollupOut(BaseModel):
    """One account's UTC day."""

    model_config = ConfigDict(from_attributes=True)

    day: date
    events: int
    active_users: int
    logins: int
    key_actions: int
    core_features: int
    integrations: int
    api_calls: int
    exports: int
    tickets_opened: int
    tickets_closed: int
    payment_failures: int
    invoices_paid: int


class SignalsQuery(BaseModel):
    """Accounts (up to 1,000) and how many days of rollups to return."""

    model_config = ConfigDict(extra="forbid")

    account_ids: list[AccountId] = Field(min_length=1, max_length=1000)
    days: int = Field(default=60, ge=1, le=400)
    as_of: date | None = Field(
        default=None,
        ge=date(1970, 1, 1),
        le=date(9999, 1, 1),
        description="Last day included; today by default",
    )


class SurveyLatest(BaseModel):
    """An account's newest response of one kind."""

    score: int
    responded_at: datetime


class AccountSupport(BaseModel):
    """Support and sentiment right now."""

    open_tickets: dict[str, int] = Field(description="Open tickets by severity")
    nps: SurveyLatest | None
    csat: SurveyLatest | None


class AccountSignals(BaseModel):
    """An account's facts and its recent rollups (days with no activity are omitted)."""

    account_id: str
    account: AccountOut | None
    support: AccountSupport
    rollups: list[RollupOut]


class SignalsResponse(BaseModel):
    """Signals for every requested account, in request order."""

    accounts: list[AccountSignals]
