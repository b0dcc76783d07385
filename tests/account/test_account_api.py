"""GET /v1/me and GET /v1/rate_limit: exactly the documented bodies, consistent with the headers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI

from botyard.account.schemas import Me, RateLimitResponse
from botyard.core.clock import FrozenClock
from botyard.core.timefmt import rfc3339
from tests.factories import auth, make_key, make_org


async def test_me_describes_the_key_its_organization_and_the_budget_left(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    org = await make_org(app, name="Ünïcode & Co", rate_limit=50)
    expires_at = frozen_clock.now() + timedelta(days=30)
    key_row, key = await make_key(app, org, ["write"], name="deploy bot", expires_at=expires_at)
    await client.get("/v1/bots", headers=auth(key))

    response = await client.get("/v1/me", headers=auth(key))

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    reset = int(response.headers["x-ratelimit-reset"])
    assert response.json() == {
        "object": "me",
        "key": {
            "id": key_row.id,
            "name": "deploy bot",
            "hint": key_row.hint,
            "scopes": ["write"],
            "expires_at": rfc3339(expires_at),
        },
        "organization": {
            "id": org.id,
            "name": "Ünïcode & Co",
            "plan": "professional",
            "api_access": True,
        },
        "rate_limit": {
            "limit": 50,
            "remaining": 48,
            "used": 2,
            "reset": reset,
            "reset_at": rfc3339(datetime.fromtimestamp(reset, UTC)),
            "window_seconds": 3600,
        },
    }
    assert response.headers["x-ratelimit-remaining"] == "48"
    assert Me.model_validate_json(response.content).key.id == key_row.id


async def test_a_key_without_expiry_says_null(app: FastAPI, client: httpx.AsyncClient) -> None:
    org = await make_org(app)
    _, key = await make_key(app, org)
    body = (await client.get("/v1/me", headers=auth(key))).json()
    assert body["key"]["expires_at"] is None
    assert Me.model_validate(body).key.expires_at is None


async def test_rate_limit_reports_without_counting(app: FastAPI, client: httpx.AsyncClient) -> None:
    org = await make_org(app, rate_limit=50)
    _, key = await make_key(app, org)
    await client.get("/v1/me", headers=auth(key))
    for _ in range(3):
        response = await client.get("/v1/rate_limit", headers=auth(key))
        assert response.status_code == 200
        body = response.json()
        assert body["object"] == "rate_limit"
        assert (body["rate_limit"]["used"], body["rate_limit"]["remaining"]) == (1, 49)
        assert RateLimitResponse.model_validate_json(response.content).rate_limit.limit == 50
