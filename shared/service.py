"""Builds a Tenure service app: the pieces every service has, wired the same way."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI

from shared.api import health, keys
from shared.api.outbox import outbox_router
from shared.auth import KeyVerifier
from shared.db import create_engine, service_url, session_factory
from shared.error_handlers import install_error_handlers
from shared.errors import (
    BadRequest,
    MalformedJson,
    PayloadTooLarge,
    TenureError,
    UnsupportedEncoding,
    problem_type,
)
from shared.http import ServiceClient
from shared.limits import RequestEdgeMiddleware
from shared.logging import configure_logging
from shared.metrics import RequestContextMiddleware, metrics_endpoint
from shared.migrate import head_revision
from shared.outbox import OutboxMixin
from shared.outbox_delivery import OutboxDispatcher
from shared.pagination import CursorSigner
from shared.ratelimit import RateLimiter
from shared.settings import ServiceSettings


@dataclass
class ServiceSpec:
    """What makes one service differ from another."""

    settings: ServiceSettings
    title: str
    description: str
    routers: Sequence[APIRouter]
    # The outbox this service writes messages to, delivered by a dispatcher to its
    # destinations; None for a service that sends nothing (no dispatcher polls for nothing).
    outbox_model: type[OutboxMixin] | None = None
    destinations: Sequence[str] = field(default_factory=tuple)
    # Services this one calls for what it reads (scoring reads ingest's signals).
    reads_from: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if (self.outbox_model is None) != (not self.destinations):
            raise ValueError("an outbox and the destinations it delivers to go together")


Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def build_app(spec: ServiceSpec, lifespan: Lifespan | None = None) -> FastAPI:
    """A FastAPI app with problem details, auth, health, metrics and the spec's routers.

    ``lifespan`` defaults to ``service_resources``; a service with work of its own to start
    (the ledger's group writer) passes one that wraps it.
    """
    app = FastAPI(
        title=spec.title,
        description=spec.description,
        version="0.1.0",
        lifespan=lifespan or service_resources,
    )
    app.state.spec = spec
    app.state.service_name = spec.settings.service_name
    app.state.cursor_signer = CursorSigner.for_settings(spec.settings)
    app.state.rate_limiter = RateLimiter.for_settings(spec.settings)
    install_error_handlers(app)
    # Innermost first: the edge runs inside the request context (request id, metrics).
    app.add_middleware(RequestEdgeMiddleware, settings=spec.settings)
    app.add_middleware(RequestContextMiddleware, service=spec.settings.service_name)
    app.include_router(health.router)
    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    app.include_router(keys.router)
    app.include_router(keys.audit)
    if spec.outbox_model is not None:
        app.include_router(outbox_router(spec.outbox_model))
    for router in spec.routers:
        app.include_router(router)
    document_shared_errors(app)
    return app


def document_shared_errors(app: FastAPI) -> None:
    """List in the OpenAPI the errors the shared machinery gives, beside each router's own:
    the request edge's 413 and 415 on every operation with a body, and the 400 of a cursor
    not signed here on every list."""
    build = app.openapi
    content = {
        "application/problem+json": {},
        "application/json": {"schema": {"$ref": "#/components/schemas/Problem"}},
    }

    def documented(error: type[TenureError]) -> dict[str, Any]:
        return {
            "description": f"{error.title}: `{problem_type(error.type_slug)}`",
            "content": content,
        }

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                if not isinstance(operation, dict):
                    continue
                listed = operation.setdefault("responses", {})
                errors: list[type[TenureError]] = []
                if "requestBody" in operation:
                    errors += [MalformedJson, PayloadTooLarge, UnsupportedEncoding]
                if any(p.get("name") == "cursor" for p in operation.get("parameters", [])):
                    errors.append(BadRequest)
                for error in errors:
                    listed.setdefault(str(error.status_code), documented(error))
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


@asynccontextmanager
async def service_resources(app: FastAPI) -> AsyncIterator[None]:
    """Open the engine, key verifier, service clients and outbox dispatcher; close them after."""
    spec: ServiceSpec = app.state.spec
    settings = spec.settings
    name = settings.service_name
    configure_logging(name, level=settings.log_level, json=settings.log_json)
    tune_garbage_collector()
    engine = create_engine(
        service_url(settings.database_url, name, settings.db_role_password.get_secret_value()),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
    factory = session_factory(engine)
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = factory
    app.state.head_revision = head_revision(name)
    app.state.key_verifier = KeyVerifier(factory, settings.api_key_cache_seconds)
    api_key = settings.service_api_key.get_secret_value()
    clients = {
        d: ServiceClient(settings.service_url(d), api_key)
        for d in (*spec.destinations, *spec.reads_from)
    }
    app.state.clients = clients
    dispatcher = None
    if spec.outbox_model is not None:
        dispatcher = OutboxDispatcher(
            service=name,
            model=spec.outbox_model,
            factory=factory,
            clients={d: clients[d] for d in spec.destinations},
            poll_seconds=settings.outbox_poll_seconds,
            batch_size=settings.outbox_batch_size,
            backoff_base=settings.outbox_backoff_base_seconds,
            backoff_cap=settings.outbox_max_backoff_seconds,
        )
        dispatcher.start()
    app.state.dispatcher = dispatcher
    try:
        yield
    finally:
        if dispatcher is not None:
            await dispatcher.stop()
        for client in clients.values():
            await client.aclose()
        await engine.dispose()


def tune_garbage_collector() -> None:
    """Keep the cyclic garbage collector off the request path's back.

    What is alive at startup (frameworks, models, routes) lives for the whole process: frozen,
    no collection walks it again. Requests allocate many short-lived objects: a larger first
    generation means far fewer collections (it cost the ledger's batch path about a tenth of
    its time).
    """
    gc.freeze()
    gc.set_threshold(_GC_FIRST_GENERATION, 20, 20)


_GC_FIRST_GENERATION = 50_000
