"""The audit log of programs and offers."""

from __future__ import annotations

from services.offers.service import audit as service
from shared.api.audit import audit_router

router = audit_router(
    "offers:read",
    service.Position,
    service.list_audit,
    "Every change to a program or an offer, newest first: who, when, what, and why.",
)
