"""GET /metrics: only for the metrics token, counts that equal the traffic sent, and nothing
in it that names a tenant (no key, organization name or email)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from botyard.api_keys import keyformat
from botyard.main import create_app
from tests.conftest import make_settings
from tests.factories import auth, make_bot, make_key, make_org, make_user
from tests.ops.test_database_outage import client_of
from tests.test_multiprocess import free_port

TOKEN = "metrics-token-for-tests-0123456789"
SCRAPER = {"Authorization": f"Bearer {TOKEN}"}


def app_with_token(database_url: str) -> FastAPI:
    return create_app(
        make_settings(
            database_url, metrics_token=TOKEN, db_timeout=0.5, request_log_shutdown_wait=0
        )
    )


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape, by (name, labels)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def requests_of(
    scraped: dict[tuple[str, frozenset[tuple[str, str]]], float],
    route: str,
    status: int,
    method: str = "GET",
) -> float:
    labels = frozenset({"route": route, "method": method, "status": str(status)}.items())
    return scraped.get(("botyard_http_requests_total", labels), 0)


async def test_metrics_is_404_without_a_token_configured(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics", headers=SCRAPER)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "route_not_found"


async def test_metrics_is_401_for_a_missing_or_wrong_token(database_url: str) -> None:
    async with client_of(app_with_token(database_url)) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            response = await client.get("/metrics", headers=headers)
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "invalid_metrics_token"
            assert "botyard_http_requests" not in response.text
        scraped = await client.get("/metrics", headers=SCRAPER)
        assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain")


async def test_per_route_counts_equal_the_requests_sent(database_url: str) -> None:
    app = app_with_token(database_url)
    async with client_of(app) as client:
        org = await make_org(app, rate_limit=7)
        _, key = await make_key(app, org)
        bots = [await make_bot(app, org) for _ in range(3)]
        for _ in range(4):
            assert (await client.get("/v1/me", headers=auth(key))).status_code == 200
        for bot in bots:
            assert (await client.get(f"/v1/bots/{bot.id}", headers=auth(key))).status_code == 200
        # 7 allowed in all: the 8th and 9th are refused
        assert (await client.get("/v1/bots", headers=auth(key))).status_code == 429
        assert (await client.get("/v1/bots", headers=auth(key))).status_code == 429
        for _ in range(5):
            assert (await client.get("/v1/bots")).status_code == 401
        assert (await client.get("/v1/me", headers=auth(keyformat.generate()))).status_code == 401
        assert (await client.get("/v1/no-such-route")).status_code == 404
        for _ in range(2):
            assert (await client.get("/livez")).status_code == 200
        scraped = samples((await client.get("/metrics", headers=SCRAPER)).text)

    assert requests_of(scraped, "/v1/me", 200) == 4
    assert requests_of(scraped, "/v1/bots/{bot_id}", 200) == 3
    assert requests_of(scraped, "/v1/bots", 429) == 2
    assert requests_of(scraped, "/v1/bots", 401) == 5
    assert requests_of(scraped, "/v1/me", 401) == 1
    assert requests_of(scraped, "(no route)", 404) == 1
    assert requests_of(scraped, "/livez", 200) == 2
    latency = frozenset({"route": "/v1/me", "method": "GET", "status": "200"}.items())
    assert scraped[("botyard_http_request_duration_seconds_count", latency)] == 4
    assert scraped[("botyard_auth_failures_total", frozenset({("code", "missing_api_key")}))] == 5
    assert scraped[("botyard_auth_failures_total", frozenset({("code", "unknown_api_key")}))] == 1
    refusals = ("botyard_rate_limit_refusals_total", frozenset({("code", "rate_limit_exceeded")}))
    assert scraped[refusals] == 2
    assert scraped[("botyard_database_unavailable", frozenset())] == 0


async def test_request_log_backlog_writes_and_flush_latency_are_reported(database_url: str) -> None:
    app = app_with_token(database_url)
    async with client_of(app) as client:
        for _ in range(3):
            await client.get("/v1/bots")
        before = samples((await client.get("/metrics", headers=SCRAPER)).text)
        assert before[("botyard_request_log_backlog_rows", frozenset())] == 3
        await app.state.request_log.flush()
        after = samples((await client.get("/metrics", headers=SCRAPER)).text)
    assert after[("botyard_request_log_backlog_rows", frozenset())] == 0
    assert after[("botyard_request_log_rows_written_total", frozenset())] == 3
    assert after[("botyard_request_log_flush_duration_seconds_count", frozenset())] == 1
    assert after[("botyard_request_log_rows_dropped_total", frozenset())] == 0


async def test_webhook_delivery_attempts_are_reported_by_outcome(database_url: str) -> None:
    app = app_with_token(database_url)
    app.state.webhook_worker.attempts.update(delivered=5, retrying=2, given_up=1)
    async with client_of(app) as client:
        scraped = samples((await client.get("/metrics", headers=SCRAPER)).text)
    for outcome, count in (("delivered", 5), ("retrying", 2), ("given_up", 1)):
        labels = frozenset({("outcome", outcome)})
        assert scraped[("botyard_webhook_delivery_attempts_total", labels)] == count


async def test_database_outage_state_is_reported() -> None:
    app = app_with_token(f"postgresql+asyncpg://u@127.0.0.1:{free_port()}/d")
    async with client_of(app) as client:
        for _ in range(2):
            assert (
                await client.get("/v1/me", headers=auth(keyformat.generate()))
            ).status_code == 503
        scraped = samples((await client.get("/metrics", headers=SCRAPER)).text)
    assert scraped[("botyard_database_unavailable", frozenset())] == 1
    assert scraped[("botyard_database_outages_total", frozenset())] == 1
    assert scraped[("botyard_database_unavailable_responses_total", frozenset())] == 2
    assert requests_of(scraped, "/v1/me", 503) == 2


async def test_metrics_never_contain_a_key_an_org_name_or_an_email(database_url: str) -> None:
    app = app_with_token(database_url)
    async with client_of(app) as client:
        org = await make_org(app, name="Zebra Secret Holdings")
        user = await make_user(app, org)
        _, key = await make_key(app, org, ["admin"])
        await client.get("/v1/me", headers=auth(key))
        await client.get(f"/v1/bots?api_key={key}")
        await client.get(f"/v1/bots/{user.email}", headers=auth(key))
        await client.get(f"/v1/{org.name}", headers=auth(key))
        await client.get("/v1/team/members", headers=auth(key))
        await client.get(f"/dashboard/{user.email}")
        text = (await client.get("/metrics", headers=SCRAPER)).text
    assert "botyard_http_requests_total" in text
    for secret in (key, key[:12], keyformat.hint(key), org.name, "Zebra", user.email, org.id):
        assert secret not in text, f"{secret!r} is in /metrics"


async def test_refused_unauthenticated_requests_are_counted_logged_or_aggregated(
    database_url: str,
) -> None:
    """Past the per-address row budget a refused request is only counted (17.11): /metrics
    shows both kinds, so a flood is visible though it no longer fills the request log."""
    app = create_app(make_settings(database_url, metrics_token=TOKEN, refused_log_per_address=5))
    async with client_of(app) as client:
        before = samples((await client.get("/metrics", headers=SCRAPER)).text)
        for _ in range(12):
            assert (await client.get("/v1/bots")).status_code == 401
        after = samples((await client.get("/metrics", headers=SCRAPER)).text)

    def grown(recorded: str) -> float:
        key = (
            "botyard_refused_unauthenticated_requests_total",
            frozenset({("recorded", recorded)}),
        )
        return after[key] - before.get(key, 0)

    assert (grown("logged"), grown("aggregated")) == (5, 7)
