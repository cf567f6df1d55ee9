"""The ledger's settings."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.settings import ServiceSettings


class LedgerSettings(ServiceSettings):
    """Environment: ``TENURE_*`` (see ServiceSettings) plus the ledger's own below."""

    service_name: ClassVar[str] = "ledger"

    # How often lots past their expiry are swept to breakage (0 turns the sweep off).
    expiry_interval_seconds: float = 3600.0
    # Idempotency keys are kept at least this long (Stripe keeps them 24 hours; we keep 30 days).
    idempotency_retention_days: int = 30
    # Concurrent writes are applied in groups of up to this many, one database transaction
    # each, with this many groups in the database at once.
    write_group_size: int = Field(default=200, ge=1)
    write_groups_in_flight: int = Field(default=2, ge=1)
