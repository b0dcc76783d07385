"""GET /metrics: Prometheus text format, only for ``Authorization: Bearer <BOTYARD_METRICS_TOKEN>``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from botyard.core.errors import error_response
from botyard.metrics.auth import TokenCheck, check_metrics_token

router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """404 while no token is configured (as if there were no such route), 401 without the
    right one; never a key, an organization name or an email: labels are route templates,
    methods, statuses and error codes."""
    check = check_metrics_token(request)
    if check is TokenCheck.UNSET:
        return error_response(
            request,
            404,
            type="not_found",
            code="route_not_found",
            message=f"No route {request.method} {request.url.path}.",
        )
    if check is not TokenCheck.VALID:
        return error_response(
            request,
            401,
            type="invalid_request",
            code="invalid_metrics_token",
            message="GET /metrics needs `Authorization: Bearer <BOTYARD_METRICS_TOKEN>`.",
            headers={"WWW-Authenticate": 'Bearer realm="botyard-metrics"'},
        )
    body = generate_latest(request.app.state.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
