"""The ledger's settings."""

from __future__ import annotations

from typing import ClassVar

from shared.settings import ServiceSettings


class LedgerSettings(ServiceSettings):
    """Environment: ``TENURE_*`` (see ServiceSettings) plus the ledger's own below."""

    service_name: ClassVar[str] = "ledger"

    # How often lots past their expiry are swept to breakage (0 turns the sweep off).
    expiry_interval_seconds: float = 3600.0
    # Idempotency keys are kept at least this long (Stripe keeps them 24 hours; we keep 30 days).
    idempotency_retention_days: int = 30
