from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from botyard.core import clock
from botyard.ratelimit.limiter import Bucket, Limiter

router = APIRouter(tags=["health"])

_PROBE = [Bucket("health:probe", 1)]


async def _limiter_check(limiter: Limiter, window: int) -> dict[str, Any]:
    """Ask the limiter for real (a peek counts nothing), so an outage shows before traffic does.

    While degraded, the resilient limiter only re-tries Redis once per retry interval, so
    frequent health checks cost no connection timeouts.
    """
    backend = str(getattr(limiter, "backend", "memory"))
    try:
        await limiter.peek(_PROBE, window, clock.timestamp())
    except Exception as exc:
        return {"status": "error", "backend": backend, "error": type(exc).__name__}
    if limiter.degraded:
        return {
            "status": "degraded",
            "backend": backend,
            "detail": "Redis is unreachable; limits are enforced per process until it returns.",
        }
    return {"status": "ok", "backend": backend}


@router.get("/healthz", summary="Health of the server, its database and its rate limiter")
async def healthz(request: Request) -> JSONResponse:
    """Public. 200 while the database answers; a degraded limiter is reported, not fatal."""
    state = request.app.state
    checks: dict[str, Any] = {}
    healthy = True
    try:
        async with state.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        checks["database"] = {"status": "ok", "backend": state.engine.dialect.name}
    except Exception as exc:
        healthy = False
        checks["database"] = {"status": "unavailable", "error": type(exc).__name__}
    checks["rate_limiter"] = await _limiter_check(state.limiter, state.settings.rate_limit_window)
    checks["request_log"] = {"status": "ok", "pending": state.request_log.pending}
    limiter_ok = checks["rate_limiter"]["status"] == "ok"
    status = "ok" if healthy and limiter_ok else ("degraded" if healthy else "down")
    return JSONResponse({"status": status, "checks": checks}, status_code=200 if healthy else 503)
