"""Widget limits (per visitor address, per bot) apart from the organization's API budget, and
widget traffic in the request log, on the in-process and the Redis limiter."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.conftest import fresh_ip
from tests.factories import auth
from tests.ratelimit.test_http_limits import LimiterBackend, limiter_backend, running_app
from tests.widget.support import SHOP, error_code, make_site, start

__all__ = ["limiter_backend"]  # the fixture, shared with the API's limit tests


def client_of(app: FastAPI, ip: str | None = None) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip or fresh_ip(), 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def api_budget_used(client: httpx.AsyncClient, secret: str) -> int:
    return int(
        (await client.get("/v1/rate_limit", headers=auth(secret))).json()["rate_limit"]["used"]
    )


async def test_visitor_posts_are_limited_per_address_and_the_api_budget_is_untouched(
    database_url: str, limiter_backend: LimiterBackend
) -> None:
    async with running_app(database_url, limiter_backend.limiter(), widget_visitor_limit=3) as app:
        site = await make_site(app)
        async with client_of(app) as visitor, client_of(app) as neighbour:
            used_before = await api_budget_used(visitor, site.secret)
            started = await start(visitor, site)
            path = f"/v1/widget/conversations/{started['conversation']['id']}/messages"
            headers = site.headers(**{"X-Visitor-Token": started["visitor_token"]})
            for remaining in (1, 0):
                ok = await visitor.post(path, headers=headers, json={"text": "hi"})
                assert ok.status_code == 201
                assert ok.headers["x-ratelimit-limit"] == "3"
                assert ok.headers["x-ratelimit-remaining"] == str(remaining)
                assert ok.headers["ratelimit-policy"] == '"minute";q=3;w=60'
            refused = await visitor.post(path, headers=headers, json={"text": "hi"})
            assert (refused.status_code, error_code(refused)) == (429, "rate_limit_exceeded")
            assert 1 <= int(refused.headers["retry-after"]) <= 60
            assert refused.headers["access-control-allow-origin"] == SHOP
            # Reading is not posting; another address has its own allowance.
            assert (await visitor.get(path, headers=headers)).status_code == 200
            assert (
                await neighbour.post("/v1/widget/conversations", headers=site.headers())
            ).status_code == 201
            assert await api_budget_used(visitor, site.secret) == used_before


async def test_each_bot_has_an_hourly_widget_budget(
    database_url: str, limiter_backend: LimiterBackend
) -> None:
    async with running_app(database_url, limiter_backend.limiter(), widget_bot_limit=3) as app:
        site = await make_site(app)
        other = await make_site(app)
        async with client_of(app) as client:
            for remaining in (2, 1, 0):
                ok = await client.get("/v1/widget/config", headers=site.headers())
                assert ok.status_code == 200
                assert ok.headers["x-ratelimit-remaining"] == str(remaining)
                assert ok.headers["ratelimit-policy"] == '"hourly";q=3;w=3600'
            refused = await client.get("/v1/widget/config", headers=site.headers())
            assert (refused.status_code, error_code(refused)) == (429, "rate_limit_exceeded")
            assert int(refused.headers["retry-after"]) > 0
            assert refused.headers["access-control-allow-origin"] == SHOP
            assert (
                await client.get("/v1/widget/config", headers=other.headers())
            ).status_code == 200
            # The organization's API keeps its own budget.
            assert (await client.get("/v1/bots", headers=auth(site.secret))).status_code == 200


async def test_widget_requests_are_in_the_log_marked_as_widget(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    site = await make_site(app)
    await start(client, site)
    await client.get("/v1/widget/config", headers=site.headers("https://evil.example"))
    await client.get("/v1/bots", headers=auth(site.secret))
    await app.state.request_log.flush()
    logs = (await client.get("/v1/logs", headers=auth(site.secret))).json()["data"]
    widget_rows = [row for row in logs if row["source"] == "widget"]
    assert {(r["route"], r["status"], r["key_id"]) for r in widget_rows} == {
        ("/v1/widget/conversations", 201, site.publishable_id),
        ("/v1/widget/config", 403, site.publishable_id),
    }
    assert {r["error_code"] for r in widget_rows} == {None, "origin_not_allowed"}
    assert [r["source"] for r in logs if r["route"] == "/v1/bots"] == ["api"]
    filtered = await client.get(f"/v1/logs?key_id={site.publishable_id}", headers=auth(site.secret))
    assert len(filtered.json()["data"]) == 2
