"""A CSV download as a response."""

from __future__ import annotations

import re

from fastapi.responses import Response


def csv_response(body: str, filename: str) -> Response:
    """``body`` as a ``text/csv`` attachment named ``filename`` (letters, digits, . _ - only)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", filename)
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{safe}"'},
    )
