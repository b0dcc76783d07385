from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Health of the server, its database and its rate limiter")
async def healthz(request: Request) -> JSONResponse:
    """Public. 200 while the database answers; the limiter may be degraded without failing."""
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
    limiter = state.limiter
    backend = "redis" if state.settings.redis_url else "memory"
    if limiter.degraded:
        checks["rate_limiter"] = {
            "status": "degraded",
            "backend": backend,
            "detail": "Redis is unreachable; limits are enforced per process until it returns.",
        }
    else:
        checks["rate_limiter"] = {"status": "ok", "backend": backend}
    checks["request_log"] = {"status": "ok", "pending": state.request_log.pending}
    status = "ok" if healthy and not limiter.degraded else ("degraded" if healthy else "down")
    return JSONResponse({"status": status, "checks": checks}, status_code=200 if healthy else 503)
