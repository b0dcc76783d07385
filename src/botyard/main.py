"""The application factory: one place that wires settings, storage, limiter, log and routes."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from botyard.account.router import router as account_router
from botyard.analytics.router import router as analytics_router
from botyard.api_keys.cache import key_cache
from botyard.api_keys.router import router as api_keys_router
from botyard.apidocs.router import router as apidocs_router
from botyard.audit.router import router as audit_router
from botyard.bots.knowledge_index import MB, knowledge_indexes
from botyard.bots.router import router as bots_router
from botyard.conversations.router import router as conversations_router
from botyard.core.config import Settings, get_settings
from botyard.core.database import DirectWrites, Reader, create_engine, create_sessionmaker
from botyard.core.errors import install_error_handlers
from botyard.core.outage import DatabaseOutage, describe
from botyard.core.planned_routes import plan_route
from botyard.core.secretbox import app_secret_box
from botyard.dashboard.router import router as dashboard_router
from botyard.health.router import router as health_router
from botyard.idempotency.guard import install as install_idempotency
from botyard.leaks.router import router as leaks_router
from botyard.log_redaction import install as install_log_redaction
from botyard.metrics.registry import Metrics
from botyard.metrics.router import router as metrics_router
from botyard.middleware import ApiMiddleware
from botyard.openapi import install as install_openapi
from botyard.ratelimit.enforce import RateLimitPolicy
from botyard.ratelimit.limiter import Limiter, build_limiter
from botyard.reference.router import router as reference_router
from botyard.requestlog.refusals import RefusalSampler
from botyard.requestlog.retention import RetentionTask
from botyard.requestlog.router import router as logs_router
from botyard.requestlog.writer import RequestLogWriter
from botyard.team.router import router as team_router
from botyard.webhooks.router import router as webhooks_router
from botyard.webhooks.worker import DeliveryWorker
from botyard.widget.cors import preflight_routes
from botyard.widget.origins import origin_of_url
from botyard.widget.router import keys_router as widget_keys_router
from botyard.widget.router import script_router, widget_router
from botyard.widget.service import publishable_keys

logger = logging.getLogger("botyard")

API_DESCRIPTION = """
The Botyard REST API. Authenticate every call with an API key from **Settings > API**:

    Authorization: Bearer byk_…

Keys carry scopes: `read` (view bots, conversations, analytics), `write` (create and modify
bots and their settings, knowledge and conversations), `admin` (everything, including the
team, API keys and request logs). Each operation lists the scope it needs. Calls are limited
to 1000 per hour per organization; every response says how many remain.
"""


def create_app(settings: Settings | None = None, limiter: Limiter | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = create_engine(settings.database_url, timeout=settings.db_timeout)
    sessionmaker = create_sessionmaker(engine)
    key_cache.ttl = settings.key_cache_ttl
    knowledge_indexes.configure(
        max_bytes=settings.knowledge_index_memory_mb * MB,
        bot_max_bytes=settings.knowledge_index_bot_memory_mb * MB,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app_secret_box(app.state)  # creates the default key file on first start
        app.state.request_log.start()
        # Everything loaded so far lives as long as the process: keep it out of every
        # future garbage collection pass, which otherwise rescans it under load.
        gc.collect()
        gc.freeze()
        app.state.request_log_retention.start()
        if settings.webhook_worker:
            app.state.webhook_worker.start()
        try:
            yield
        finally:
            # Each step runs even if one before it failed: the limiter and the engine are
            # always closed, whatever state the database or Redis is in.
            steps: tuple[tuple[str, Callable[[], Awaitable[None]]], ...] = (
                ("webhook worker", app.state.webhook_worker.stop),
                ("request-log retention", app.state.request_log_retention.stop),
                (
                    "request log",
                    partial(app.state.request_log.stop, settings.request_log_shutdown_wait),
                ),
                ("rate limiter", app.state.rate_limits.limiter.close),
                ("database reads", app.state.reader.close),
                *([("database writes", direct_writes.close)] if direct_writes else []),
                ("database engine", engine.dispose),
            )
            for name, step in steps:
                try:
                    await step()
                except Exception as exc:
                    logger.error("shutdown: closing the %s failed (%s)", name, describe(exc))

    app = FastAPI(
        title="Botyard API",
        version="1.0.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        # /docs and /redoc are Botyard's own pages (apidocs), on assets installed with a package.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        telemetry={
            "tracing": settings.opentelemetry,
            "metrics": settings.opentelemetry,
            "logs": settings.opentelemetry,
        },
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = sessionmaker
    app.state.reader = Reader(engine)
    app.state.direct_writes = direct_writes = DirectWrites.of(engine)
    app.state.db_outage = DatabaseOutage(engine, settings.db_timeout)
    app.state.rate_limits = RateLimitPolicy.of(
        limiter if limiter is not None else build_limiter(settings.redis_url), settings
    )
    app.state.request_log = RequestLogWriter(
        engine,
        flush_interval=settings.request_log_flush_interval,
        batch_size=settings.request_log_batch_size,
    )
    app.state.request_log_retention = RetentionTask(
        sessionmaker, settings.request_log_retention_days
    )
    app.state.webhook_worker = DeliveryWorker(
        sessionmaker,
        lambda: app_secret_box(app.state),
        allow_private=settings.webhook_allow_private_urls,
        poll_interval=settings.webhook_poll_interval,
    )
    app.state.metrics = Metrics(
        app.state.request_log, app.state.db_outage, app.state.webhook_worker
    )
    install_log_redaction()
    install_error_handlers(app)
    install_idempotency(app)
    install_openapi(app)
    app.add_middleware(
        ApiMiddleware,
        max_body_bytes=settings.max_body_bytes,
        request_log=app.state.request_log,
        metrics=app.state.metrics,
        refusals=RefusalSampler(settings.refused_log_per_address),
    )
    if settings.trusted_proxies:
        # Outermost, so allow-lists, limits, logs, audit and cookies all see the address and
        # scheme it resolves; with no trusted proxy nothing rewrites them (and nothing runs).
        app.add_middleware(
            ProxyHeadersMiddleware, trusted_hosts=[str(n) for n in settings.trusted_proxies]
        )
    # Routes are tried in this order on every request: the API's before the documentation.
    app.state.public_origin = origin_of_url(settings.public_url)
    publishable_keys.ttl = settings.key_cache_ttl
    for router in (
        health_router,
        metrics_router,
        account_router,
        bots_router,
        conversations_router,
        analytics_router,
        team_router,
        api_keys_router,
        webhooks_router,
        leaks_router,
        logs_router,
        audit_router,
        widget_keys_router,
        widget_router,
        script_router,
        reference_router,
        apidocs_router,
    ):
        add_routes_of(app, router)
    app.router.routes.extend(preflight_routes)
    app.include_router(dashboard_router)
    return app


def add_routes_of(app: FastAPI, router: APIRouter) -> None:
    """Put a router's routes on the app itself instead of including the router.

    FastAPI 0.16x keeps an included router as a branch that is matched twice per request and
    re-checked for changes at every route before the match. Flat, bench/endpoints.py gives
    /healthz 47 -> 41 µs, /v1/me 94 -> 83 µs and an unknown /v1 path 243 -> 201 µs. A router
    declared with its full prefix has nothing left for ``include_router`` to add. The
    dashboard, whose pages are nested routers, stays included: it comes last, so it costs
    the API nothing. Each route of a simple shape gets a planned handler
    (:mod:`botyard.core.planned_routes`).
    """
    for route in router.routes:
        if not isinstance(route, APIRoute) or not route.path.startswith(router.prefix):
            raise TypeError(f"{route!r} cannot be added flat: include its router instead")
        plan_route(route)
        app.router.routes.append(route)


def app_factory() -> FastAPI:
    """Entry point for ``uvicorn --factory botyard.main:app_factory``."""
    return create_app()
