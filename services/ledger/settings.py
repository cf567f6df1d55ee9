"""Ledger's settings."""

from __future__ import annotations

from typing import ClassVar

from shared.settings import ServiceSettings


class LedgerSettings(ServiceSettings):
    """Environment: ``TENURE_*`` (see ServiceSettings)."""

    service_name: ClassVar[str] = "ledger"
