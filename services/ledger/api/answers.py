"""How a write endpoint answers: the response kept under its Idempotency-Key, as it was."""

from __future__ import annotations

from fastapi.responses import Response

from services.ledger.domain.writes import Outcome
from shared.errors import json_response


def kept_response(outcome: Outcome) -> Response:
    """A write's response; one sent again for a repeat of its key says so in
    ``Idempotent-Replayed: true``."""
    response = json_response(outcome.status, outcome.body)
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"  # as Stripe's API says it
    return response
