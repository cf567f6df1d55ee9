"""The audit log of what people changed in ingest."""

from __future__ import annotations

from services.ingest.service import audit as service
from shared.api.audit import audit_router

router = audit_router(
    "ingest:read",
    service.Position,
    service.list_audit,
    "What people changed in ingest, newest first, by whom: `source.created`, "
    "`source.rotated`, `source.disabled`, `event_map.changed`, `rejected.replayed` (how many "
    "accepted, duplicate, refused again) and `rollups.rebuilt`. Never a secret.",
)
