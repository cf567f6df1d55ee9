"""Prometheus metrics and the ASGI middleware that records requests and request ids."""

from __future__ import annotations

import time

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.error_handlers import unexpected_error_response
from shared.logging import (
    REQUEST_ID_HEADER,
    clean_request_id,
    reset_request_id,
    set_request_id,
)

REQUESTS = Counter(
    "tenure_http_requests_total",
    "HTTP requests handled, by route template and status.",
    ["service", "method", "route", "status"],
)
LATENCY = Histogram(
    "tenure_http_request_duration_seconds",
    "HTTP request latency, by route template.",
    ["service", "method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OUTBOX_BACKLOG = Gauge(
    "tenure_outbox_backlog", "Outbox messages not yet delivered.", ["service", "state"]
)
OUTBOX_OLDEST_AGE = Gauge(
    "tenure_outbox_oldest_age_seconds", "Age of the oldest undelivered outbox message.", ["service"]
)
OUTBOX_DELIVERED = Counter(
    "tenure_outbox_delivered_total", "Outbox messages acknowledged by their receiver.", ["service"]
)
OUTBOX_FAILURES = Counter(
    "tenure_outbox_failures_total", "Failed outbox delivery attempts.", ["service"]
)

_access_log = structlog.get_logger("tenure.access")


_error_log = structlog.get_logger("tenure.errors")


class RequestContextMiddleware:
    """Sets the request id, logs each request once, and records its metrics.

    A plain ASGI middleware (not BaseHTTPMiddleware) so it adds little to the hot path.
    """

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_id = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                raw_id = value.decode("latin-1")
                break
        request_id = clean_request_id(raw_id)
        token = set_request_id(request_id)
        status = 500
        started = time.perf_counter()

        started_response = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                started_response = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.lower().encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                if started_response:
                    raise
                # Answered here, inside the request's context, the 500 carries its request
                # id, and the connection stays open for the client's next request (the
                # framework's last-resort handler would answer outside it and drop it).
                _error_log.exception("unhandled_error", path=scope.get("path"))
                response = unexpected_error_response(Request(scope))
                await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            REQUESTS.labels(self.service, method, template, str(status)).inc()
            LATENCY.labels(self.service, method, template).observe(elapsed)
            if template not in ("/healthz", "/metrics"):
                _access_log.info(
                    "request",
                    method=method,
                    route=template,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                )
            reset_request_id(token)


async def metrics_endpoint(_request: Request) -> Response:
    """Prometheus exposition of this process's metrics."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
