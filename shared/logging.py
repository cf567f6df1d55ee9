"""Structured JSON logs with a request id that follows a request across services."""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

import orjson
import structlog

REQUEST_ID_HEADER = "X-Request-ID"
_request_id: ContextVar[str | None] = ContextVar("tenure_request_id", default=None)

# Keys whose values are secrets; their values never reach a log line.
_SECRET_MARKERS = ("authorization", "api_key", "apikey", "secret", "signature", "password", "token")


def current_request_id() -> str | None:
    """The request id of the request being handled, if any."""
    return _request_id.get()


def set_request_id(value: str | None) -> Any:
    """Bind a request id to the current context; returns a token for ``reset_request_id``."""
    return _request_id.set(value)


def reset_request_id(token: Any) -> None:
    """Restore the request id that was current before ``set_request_id``."""
    _request_id.reset(token)


def new_request_id() -> str:
    """A fresh request id."""
    return uuid.uuid4().hex


def clean_request_id(raw: str | None) -> str:
    """Accept a caller's request id if it is short and printable, else make one."""
    if raw and len(raw) <= 128 and raw.isascii() and raw.isprintable():
        return raw
    return new_request_id()


def _add_request_id(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    request_id = _request_id.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
    return event


def _redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if any(marker in key.lower() for marker in _SECRET_MARKERS):
            event[key] = "[redacted]"
    return event


def configure_logging(service: str, *, level: str = "INFO", json: bool = True) -> None:
    """Configure structlog (and stdlib logging) to write one JSON object per line."""
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=orjson.dumps)
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )

    def add_service(
        _logger: Any, _name: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        event.setdefault("service", service)
        return event

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            add_service,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _add_request_id,
            _redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.BytesLoggerFactory(sys.stdout.buffer) if json else None,
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(name)s %(message)s")
    # uvicorn's own access log would duplicate ours, without the request id.
    logging.getLogger("uvicorn.access").disabled = True
