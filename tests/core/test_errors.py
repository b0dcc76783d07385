"""Every failure is the JSON envelope with a request id: unknown routes, bad input, crashes."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from botyard.core.config import Settings
from botyard.main import create_app


async def test_unknown_route_is_a_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nothing-here")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["type"] == "not_found"
    assert "/v1/nothing-here" in error["message"]
    assert error["request_id"] == response.headers["x-request-id"]


async def test_wrong_method_is_a_json_405(client: httpx.AsyncClient) -> None:
    response = await client.put("/v1/me")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


async def test_a_crash_is_a_json_500_without_traceback(database_url: str) -> None:
    app: FastAPI = create_app(Settings(database_url=database_url))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals byk_should_not_leak")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    body = response.json()
    assert body["error"]["type"] == "api_error"
    assert body["error"]["request_id"].startswith("req_")
    assert response.headers["x-request-id"] == body["error"]["request_id"]
    assert "Traceback" not in response.text and "internals" not in response.text


async def test_healthz_reports_database_and_limiter(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == {"status": "ok"}
    assert body["checks"]["rate_limiter"] == {"status": "ok"}
