"""Rate limits as an API client sees them, on the in-process and on the Redis backend.

Each test runs a fresh app (its lifespan included) whose limiter comes from the
``limiter_backend`` fixture, so counts never leak between tests; Redis keys get a prefix
unique to the test and are deleted afterwards.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from botyard.api_keys import keyformat
from botyard.core.clock import FrozenClock
from botyard.main import create_app
from botyard.ratelimit.limiter import (
    Limiter,
    MemoryLimiter,
    RedisLimiter,
    ResilientLimiter,
)
from tests.backends import REDIS_URL, unavailable
from tests.conftest import make_settings
from tests.factories import auth, make_bot, make_key, make_org
from tests.ratelimit.fakes import SwitchableLimiter

HOUR = 3600


def _redis_client() -> Redis:
    pool = BlockingConnectionPool.from_url(
        REDIS_URL, max_connections=50, timeout=5, socket_timeout=2, socket_connect_timeout=2
    )
    return Redis.from_pool(pool)


@dataclass
class LimiterBackend:
    """Makes limiters for one backend; on Redis every limiter of a test shares one prefix."""

    name: str
    prefix: str = ""
    made: list[Limiter] = field(default_factory=list)

    def redis_limiter(self) -> RedisLimiter:
        return RedisLimiter(_redis_client(), prefix=self.prefix)

    def limiter(self) -> Limiter:
        """What ``build_limiter`` makes for this backend, with the test's own key prefix."""
        made: Limiter
        if self.name == "memory":
            made = MemoryLimiter()
        else:
            made = ResilientLimiter(self.redis_limiter(), MemoryLimiter())
        self.made.append(made)
        return made


@pytest.fixture(params=["memory", "redis"])
async def limiter_backend(request: pytest.FixtureRequest) -> AsyncIterator[LimiterBackend]:
    if request.param == "memory":
        yield LimiterBackend("memory")
        return
    admin = _redis_client()
    try:
        await admin.ping()
    except (RedisConnectionError, OSError) as exc:
        await admin.aclose()
        unavailable(f"Redis at {REDIS_URL}", str(exc) or type(exc).__name__)
    backend = LimiterBackend("redis", prefix=f"botyard-test:http:{uuid.uuid4().hex}:")
    try:
        yield backend
        # A silent fall back to memory would make a "redis" pass meaningless.
        assert not any(limiter.degraded for limiter in backend.made), "Redis limiter degraded"
    finally:
        keys = [k async for k in admin.scan_iter(match=backend.prefix + "*")]
        if keys:
            await admin.delete(*keys)
        await admin.aclose()


@asynccontextmanager
async def running_app(
    database_url: str, limiter: Limiter | None = None, **settings: Any
) -> AsyncIterator[FastAPI]:
    app = create_app(make_settings(database_url, **settings), limiter=limiter)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def api(database_url: str, limiter_backend: LimiterBackend) -> AsyncIterator[FastAPI]:
    async with running_app(database_url, limiter_backend.limiter()) as app:
        yield app


@asynccontextmanager
async def client_from(app: FastAPI, ip: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def client(api: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_from(api, "203.0.113.10") as c:
        yield c


def counters(response: httpx.Response) -> tuple[int, int, int, int]:
    """(limit, remaining, used, reset) from the X-RateLimit-* headers."""
    h = response.headers
    return (
        int(h["x-ratelimit-limit"]),
        int(h["x-ratelimit-remaining"]),
        int(h["x-ratelimit-used"]),
        int(h["x-ratelimit-reset"]),
    )


async def used_now(client: httpx.AsyncClient, key: str) -> int:
    """The organization's count as GET /v1/rate_limit reports it (a call that is not counted)."""
    response = await client.get("/v1/rate_limit", headers=auth(key))
    assert response.status_code == 200, response.text
    return int(response.json()["rate_limit"]["used"])


def assert_rate_limited(response: httpx.Response, retry_after: int) -> None:
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("rate_limit_exceeded", "rate_limit_exceeded")
    assert response.headers["retry-after"] == str(retry_after)


# --- the count, its headers and its window ---------------------------------------------


async def test_remaining_falls_by_one_then_the_51st_request_gets_429(
    api: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    org = await make_org(api, rate_limit=50)
    _, key = await make_key(api, org)
    start = int(frozen_clock.now().timestamp())
    resets = set()
    for i in range(1, 51):
        response = await client.get("/v1/me", headers=auth(key))
        assert response.status_code == 200, response.text
        limit, remaining, used, reset = counters(response)
        assert (limit, remaining, used) == (50, 50 - i, i)
        resets.add(reset)
        assert response.headers["ratelimit-policy"] == '"hourly";q=50;w=3600'
        elapsed = 10 * (i - 1)
        assert response.headers["ratelimit"] == f'"hourly";r={50 - i};t={HOUR - elapsed}'
        frozen_clock.advance(timedelta(seconds=10))
    assert resets == {start + HOUR}

    refused = await client.get("/v1/me", headers=auth(key))
    assert_rate_limited(refused, retry_after=HOUR - 500)
    assert counters(refused) == (50, 0, 50, start + HOUR)
    assert refused.headers["ratelimit"] == f'"hourly";r=0;t={HOUR - 500}'
    message = refused.json()["error"]["message"]
    assert "50 requests" in message and f"{HOUR - 500} seconds" in message


async def test_a_new_window_opens_an_hour_after_the_first_request(
    api: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    org = await make_org(api, rate_limit=2)
    _, key = await make_key(api, org)
    start = int(frozen_clock.now().timestamp())
    assert (await client.get("/v1/me", headers=auth(key))).status_code == 200
    frozen_clock.advance(timedelta(minutes=20))
    assert (await client.get("/v1/me", headers=auth(key))).status_code == 200

    frozen_clock.advance(timedelta(minutes=40) - timedelta(seconds=1))
    assert_rate_limited(await client.get("/v1/me", headers=auth(key)), retry_after=1)

    frozen_clock.advance(timedelta(seconds=1))
    reopened = await client.get("/v1/me", headers=auth(key))
    assert reopened.status_code == 200
    assert counters(reopened) == (2, 1, 1, start + 2 * HOUR)


async def test_every_key_of_an_organization_draws_on_one_budget(
    api: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(api, rate_limit=5)
    _, first = await make_key(api, org)
    _, second = await make_key(api, org, ["admin"])
    _, other_org_key = await make_key(api, await make_org(api, rate_limit=5))

    used = [
        counters(await client.get("/v1/me", headers=auth(k)))[2]
        for k in (first, second, first, second, second)
    ]
    assert used == [1, 2, 3, 4, 5]
    assert_rate_limited(await client.get("/v1/me", headers=auth(first)), retry_after=HOUR)
    assert_rate_limited(await client.get("/v1/me", headers=auth(second)), retry_after=HOUR)
    _, fresh_key = await make_key(api, org)
    assert (await client.get("/v1/me", headers=auth(fresh_key))).status_code == 429

    elsewhere = await client.get("/v1/me", headers=auth(other_org_key))
    assert elsewhere.status_code == 200
    assert counters(elsewhere)[:3] == (5, 4, 1)


async def test_a_key_with_its_own_lower_limit_is_held_to_it(
    api: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(api, rate_limit=50)
    _, capped = await make_key(api, org, rate_limit=3)
    _, uncapped = await make_key(api, org)

    for i in range(1, 4):
        response = await client.get("/v1/me", headers=auth(capped))
        assert counters(response)[:3] == (3, 3 - i, i)
    assert response.headers["ratelimit-policy"] == '"hourly";q=3;w=3600'
    refused = await client.get("/v1/me", headers=auth(capped))
    assert_rate_limited(refused, retry_after=HOUR)
    assert counters(refused)[:3] == (3, 0, 3)

    # The refused call was charged nowhere: the organization has spent exactly 3.
    other = await client.get("/v1/me", headers=auth(uncapped))
    assert counters(other)[:3] == (50, 46, 4)


# --- exact under concurrency -------------------------------------------------------------


async def test_200_concurrent_requests_against_a_limit_of_50_get_exactly_50_through(
    database_url: str, limiter_backend: LimiterBackend, frozen_clock: FrozenClock
) -> None:
    """On Redis the requests are spread over two app instances sharing it, as two servers."""
    instances = 2 if limiter_backend.name == "redis" else 1
    async with (
        running_app(database_url, limiter_backend.limiter()) as first,
        running_app(database_url, limiter_backend.limiter()) as second,
    ):
        org = await make_org(first, rate_limit=50)
        _, key = await make_key(first, org)
        async with (
            client_from(first, "203.0.113.20") as a,
            client_from(second, "203.0.113.21") as b,
        ):
            clients = [a, b][:instances]
            for c in clients:  # warm each instance's key cache with a call that is not counted
                assert await used_now(c, key) == 0
            responses = await asyncio.gather(
                *(clients[i % instances].get("/v1/me", headers=auth(key)) for i in range(200))
            )
            statuses = [r.status_code for r in responses]
            assert statuses.count(200) == 50, statuses
            assert statuses.count(429) == 150
            successes = sorted(counters(r)[2] for r in responses if r.status_code == 200)
            assert successes == list(range(1, 51))
            assert all(
                r.headers["retry-after"] == str(HOUR) for r in responses if r.status_code == 429
            )
            assert [await used_now(c, key) for c in clients] == [50] * instances


# --- what is not counted ----------------------------------------------------------------


async def test_get_rate_limit_reads_the_count_without_spending_it(
    api: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(api, rate_limit=50)
    _, key = await make_key(api, org)
    for _ in range(3):
        await client.get("/v1/me", headers=auth(key))
    for _ in range(10):
        response = await client.get("/v1/rate_limit", headers=auth(key))
        assert response.status_code == 200
        assert counters(response)[:3] == (50, 47, 3)
        body = response.json()["rate_limit"]
        assert (body["limit"], body["remaining"], body["used"]) == (50, 47, 3)
    assert counters(await client.get("/v1/me", headers=auth(key)))[2] == 4


async def test_get_rate_limit_answers_even_when_the_budget_is_spent(
    api: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    org = await make_org(api, rate_limit=2)
    _, key = await make_key(api, org)
    for _ in range(2):
        await client.get("/v1/me", headers=auth(key))
    assert_rate_limited(await client.get("/v1/me", headers=auth(key)), retry_after=HOUR)
    frozen_clock.advance(timedelta(minutes=15))
    response = await client.get("/v1/rate_limit", headers=auth(key))
    assert response.status_code == 200
    body = response.json()["rate_limit"]
    assert (body["limit"], body["remaining"], body["used"]) == (2, 0, 2)
    assert response.headers["ratelimit"] == '"hourly";r=0;t=2700'


async def test_a_304_answer_is_not_counted(api: FastAPI, client: httpx.AsyncClient) -> None:
    """Needs ETags on single objects (GET /v1/bots/{bot_id} → ETag, If-None-Match → 304)."""
    org = await make_org(api, rate_limit=50)
    bot = await make_bot(api, org)
    _, key = await make_key(api, org)
    first = await client.get(f"/v1/bots/{bot.id}", headers=auth(key))
    assert first.status_code == 200, first.text
    assert counters(first)[2] == 1
    etag = first.headers.get("etag")
    assert etag, "GET /v1/bots/{bot_id} returned no ETag"

    for _ in range(5):
        cached = await client.get(
            f"/v1/bots/{bot.id}", headers={**auth(key), "If-None-Match": etag}
        )
        assert cached.status_code == 304
        assert counters(cached)[:3] == (50, 49, 1)
    assert await used_now(client, key) == 1
    changed = await client.get(f"/v1/bots/{bot.id}", headers={**auth(key), "If-None-Match": '"x"'})
    assert changed.status_code == 200
    assert counters(changed)[2] == 2


async def test_guessed_keys_are_limited_per_ip_while_the_good_key_still_works(
    api: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(api, rate_limit=50)
    _, good = await make_key(api, org)
    revoked_row, revoked = await make_key(api, org)
    async with api.state.sessionmaker() as session:
        from botyard.api_keys import service as keys
        from botyard.audit.service import CLI_ACTOR

        row = await keys.get_key(session, org.id, revoked_row.id)
        await keys.revoke(session, row, CLI_ACTOR)
        await session.commit()
    limit = api.state.settings.auth_failure_limit
    assert limit < 100

    statuses = []
    for i in range(100):
        guess = keyformat.generate() if i % 2 else good[:-1] + ("A" if good[-1] != "A" else "B")
        response = await client.get("/v1/me", headers=auth(guess))
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert response.json()["error"]["code"] == "rate_limit_exceeded"
            assert 0 < int(response.headers["retry-after"]) <= HOUR
            assert "x-ratelimit-limit" not in response.headers
    assert statuses == [401] * limit + [429] * (100 - limit)

    # The good key works from the guessing address and from any other.
    assert (await client.get("/v1/me", headers=auth(good))).status_code == 200
    async with client_from(api, "203.0.113.99") as elsewhere:
        response = await elsewhere.get("/v1/me", headers=auth(good))
        assert response.status_code == 200
        # No failed attempt was charged to the organization, nor was the revoked key's.
        assert (await elsewhere.get("/v1/me", headers=auth(revoked))).status_code == 401
        assert await used_now(elsewhere, good) == 2
        # Another address may still fail on its own budget: it gets a 401, not a 429.
        assert (
            await elsewhere.get("/v1/me", headers=auth(keyformat.generate()))
        ).status_code == 401


# --- Redis outages ----------------------------------------------------------------------


async def test_unreachable_redis_keeps_serving_with_limits_and_health_says_degraded(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        running_app(
            database_url, redis_url="redis://127.0.0.1:1/0", metrics_token="metrics-token"
        ) as app,
        client_from(app, "203.0.113.30") as client,
    ):
        health = await client.get("/healthz", headers={"Authorization": "Bearer metrics-token"})
        assert health.status_code == 200
        assert health.json()["status"] == "degraded"
        assert health.json()["checks"]["rate_limiter"]["status"] == "degraded"
        assert health.json()["checks"]["rate_limiter"]["backend"] == "redis"

        org = await make_org(app, rate_limit=3)
        _, key = await make_key(app, org)
        for i in range(1, 4):
            response = await client.get("/v1/me", headers=auth(key))
            assert response.status_code == 200
            assert counters(response)[:3] == (3, 3 - i, i)
        assert_rate_limited(await client.get("/v1/me", headers=auth(key)), retry_after=HOUR)
        # Authentication never fails open: a bad key is still refused.
        bad = await client.get("/v1/me", headers=auth(keyformat.generate()))
        assert bad.status_code == 401
    assert any("Redis unreachable" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("limiter_backend", ["redis"], indirect=True)
async def test_the_shared_count_resumes_when_redis_returns(
    database_url: str, limiter_backend: LimiterBackend
) -> None:
    switch = SwitchableLimiter(limiter_backend.redis_limiter())
    flaky = ResilientLimiter(switch, MemoryLimiter(), retry_interval=0)
    async with (
        running_app(database_url, flaky) as app,
        running_app(database_url, limiter_backend.limiter()) as peer,
    ):
        org = await make_org(app, rate_limit=10)
        _, key = await make_key(app, org)
        async with (
            client_from(app, "203.0.113.40") as client,
            client_from(peer, "203.0.113.41") as other,
        ):
            assert counters(await client.get("/v1/me", headers=auth(key)))[2] == 1
            assert await used_now(other, key) == 1

            switch.down = True
            for i in range(1, 3):
                served = await client.get("/v1/me", headers=auth(key))
                assert served.status_code == 200
                assert counters(served)[2] == i  # this process's own count meanwhile
            health = (await client.get("/healthz")).json()
            assert health["checks"]["rate_limiter"]["status"] == "degraded"
            assert await used_now(other, key) == 1

            switch.down = False
            resumed = await client.get("/v1/me", headers=auth(key))
            assert counters(resumed)[2] == 2
            assert await used_now(other, key) == 2
            assert (await client.get("/healthz")).json()["checks"]["rate_limiter"]["status"] == "ok"
            assert not flaky.degraded
