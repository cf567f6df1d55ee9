"""The audit log of scorecards and colour overrides."""

from __future__ import annotations

from services.scoring.service import audit as service
from shared.api.audit import audit_router

router = audit_router(
    "scores:read",
    service.Position,
    service.list_audit,
    "Every scorecard version and colour override (set or cleared), newest first: who, when,"
    " what, and why.",
)
