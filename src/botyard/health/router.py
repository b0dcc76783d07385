"""Liveness, readiness and health: what a load balancer, an orchestrator and an operator ask.

``/livez`` says the process answers. ``/readyz`` asks the database now (within a second) and
checks its migrations are at head. ``/healthz`` is the detailed view: public callers see
statuses only; backends, errors and backlog need the metrics token.
"""

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from alembic.script import ScriptDirectory
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from botyard.core import clock
from botyard.core.database import fetch_first
from botyard.core.migrate import alembic_config
from botyard.core.outage import describe, is_database_unavailable
from botyard.metrics.auth import TokenCheck, check_metrics_token
from botyard.ratelimit.limiter import Bucket, Limiter

router = APIRouter(tags=["health"])

PROBE_INTERVAL = 1.0
"""Seconds a Redis probe result is reused, so a hammered /healthz stays cheap."""

READY_TIMEOUT = 1.0
"""Seconds /readyz and /healthz give the database to answer."""

_PROBE = [Bucket("health:probe", 1)]
_VERSION = text("SELECT version_num FROM alembic_version")
_head: str | None = None


def migrations_head() -> str | None:
    """The revision the code expects (read once: it cannot change while the process runs)."""
    global _head
    if _head is None:
        _head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    return _head


@dataclass
class _Probes:
    """One app's database probe in flight (shared by concurrent callers) and limiter probe."""

    database: asyncio.Task[dict[str, Any]] | None = None
    limiter_at: float | None = None
    limiter_error: dict[str, Any] | None = field(default=None)


def _probes(state: Any) -> _Probes:
    probes = getattr(state, "health_probes", None)
    if probes is None:
        probes = state.health_probes = _Probes()
    return probes


def _fresh(at: float | None) -> bool:
    return at is not None and time.monotonic() - at < PROBE_INTERVAL


async def _ask_database(state: Any) -> dict[str, Any]:
    backend = state.engine.dialect.name
    try:
        row = await fetch_first(state.engine, _VERSION, {})
    except Exception as exc:
        if is_database_unavailable(exc):
            return {"status": "unavailable", "backend": backend, "error": describe(exc)}
        row = None  # it answered, without a migrations table: never migrated
    version = row[0] if row is not None else None
    if version != migrations_head():
        return {
            "status": "migrations_pending",
            "backend": backend,
            "error": f"schema at {version}, code expects {migrations_head()}",
        }
    return {"status": "ok", "backend": backend}


async def _database_check(state: Any, probes: _Probes) -> dict[str, Any]:
    """Ask the database now; callers arriving while a probe is in flight share its answer,
    so a hammered endpoint sends one query at a time, and no answer is ever reused later.
    Each caller waits at most READY_TIMEOUT."""
    if probes.database is None or probes.database.done():
        probes.database = asyncio.ensure_future(_ask_database(state))
    # This caller's probe: once it is done, the next caller may start another in its place.
    probe = probes.database
    # Waited for without cancelling it: cancelling a query on a hung connection waits for
    # the connection's own cleanup (another database timeout) before it returns.
    done, _ = await asyncio.wait({probe}, timeout=READY_TIMEOUT)
    if not done:
        backend = state.engine.dialect.name
        return {"status": "unavailable", "backend": backend, "error": "no answer within 1 s"}
    return probe.result()


async def _limiter_check(limiter: Limiter, window: int, probes: _Probes) -> dict[str, Any]:
    """Ask the limiter for real (a peek counts nothing), so an outage shows before traffic does.

    The probe runs at most once per PROBE_INTERVAL; the degraded flag is read every time, so
    recovery noticed by live traffic shows at once. While degraded, the resilient limiter
    itself re-tries Redis only once per its retry interval: no connection timeout per check.
    """
    backend = str(getattr(limiter, "backend", "memory"))
    if not _fresh(probes.limiter_at):
        probes.limiter_at = time.monotonic()
        try:
            await limiter.peek(_PROBE, window, clock.timestamp())
            probes.limiter_error = None
        except Exception as exc:
            probes.limiter_error = {
                "status": "error",
                "backend": backend,
                "error": type(exc).__name__,
            }
    if probes.limiter_error is not None:
        return probes.limiter_error
    if limiter.degraded:
        return {
            "status": "degraded",
            "backend": backend,
            "detail": "Redis is unreachable; limits are enforced per process until it returns.",
        }
    return {"status": "ok", "backend": backend}


@router.get("/livez", summary="The process is up and answering")
async def livez() -> JSONResponse:
    """Public. Always 200 while the process serves; it asks nothing of the database."""
    return JSONResponse({"status": "ok"})


@router.get("/readyz", summary="Ready for traffic: database reachable, migrations current")
async def readyz(request: Request) -> JSONResponse:
    """Public. 200 when the database answered within 1 s and is at the code's migration head;
    503 otherwise. Asked on every call, never from a cache."""
    database = await _database_check(request.app.state, _probes(request.app.state))
    if database["status"] == "ok":
        return JSONResponse({"status": "ready"})
    reason = (
        "migrations pending"
        if database["status"] == "migrations_pending"
        else "database unavailable"
    )
    return JSONResponse({"status": "not_ready", "reason": reason}, status_code=503)


@router.get("/healthz", summary="Health of the server, its database and its rate limiter")
async def healthz(request: Request) -> JSONResponse:
    """Public statuses; with the metrics token, backends, errors and the request-log backlog.

    200 while the database answers; a degraded limiter is reported, not fatal."""
    state = request.app.state
    probes = _probes(state)
    checks: dict[str, Any] = {
        "database": await _database_check(state, probes),
        "rate_limiter": await _limiter_check(
            state.rate_limits.limiter, state.rate_limits.window, probes
        ),
        "request_log": {"status": "ok", "pending": state.request_log.pending},
    }
    healthy = checks["database"]["status"] == "ok"
    limiter_ok = checks["rate_limiter"]["status"] == "ok"
    status = "ok" if healthy and limiter_ok else ("degraded" if healthy else "down")
    if check_metrics_token(request) is not TokenCheck.VALID:
        checks = {name: {"status": check["status"]} for name, check in checks.items()}
    return JSONResponse({"status": status, "checks": checks}, status_code=200 if healthy else 503)
