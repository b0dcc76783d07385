"""Behaviour of the rate limiter on every backend, with the clock passed in."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from botyard.ratelimit.limiter import (
    Bucket,
    Decision,
    Limiter,
    MemoryLimiter,
    RedisLimiter,
    ResilientLimiter,
    build_limiter,
)
from tests.ratelimit.fakes import SwitchableLimiter

REDIS_URL = os.environ.get("BOTYARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CLOSED_PORT_URL = "redis://127.0.0.1:1/0"
T0 = 1_700_000_000.0
HOUR = 3600

RedisFactory = Callable[[], RedisLimiter]


def _client() -> Redis:
    # A blocking pool, as in production: the default pool raises beyond 100 in flight.
    pool = BlockingConnectionPool.from_url(
        REDIS_URL, max_connections=20, timeout=5, socket_timeout=2, socket_connect_timeout=2
    )
    return Redis.from_pool(pool)


@pytest.fixture
async def redis_admin() -> AsyncIterator[Redis]:
    """A raw client for setup and cleanup; skips (or fails on CI) when Redis is down."""
    client = _client()
    try:
        await client.ping()
    except (RedisConnectionError, OSError) as exc:
        await client.aclose()
        reason = f"Redis not reachable at {REDIS_URL}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true, so Redis is required)")
        pytest.skip(reason)
    yield client
    await client.aclose()


@pytest.fixture
def prefix() -> str:
    """A fresh key prefix per test, so tests and parallel runs never share a key."""
    return f"botyard-test:rl:{uuid.uuid4().hex}:"


@pytest.fixture
async def make_redis(redis_admin: Redis, prefix: str) -> AsyncIterator[RedisFactory]:
    """RedisLimiters with their own clients on one shared Redis and key prefix."""
    made: list[RedisLimiter] = []

    def make() -> RedisLimiter:
        limiter = RedisLimiter(_client(), prefix=prefix)
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        await limiter.close()
    keys = [k async for k in redis_admin.scan_iter(match=prefix + "*")]
    if keys:
        await redis_admin.delete(*keys)


@pytest.fixture(params=["memory", "redis"])
def limiter(request: pytest.FixtureRequest) -> Limiter:
    # Sync on purpose: an async fixture cannot pull another async fixture on demand.
    if request.param == "memory":
        return MemoryLimiter()
    make: RedisFactory = request.getfixturevalue("make_redis")
    return make()


# --- semantics, on every backend ----------------------------------------------------


async def test_limit_counts_down_then_denies(limiter: Limiter) -> None:
    org = [Bucket("org:org_1", 50)]
    now = T0
    for i in range(1, 51):
        d = await limiter.hit(org, HOUR, now)
        assert d == Decision(
            allowed=True,
            limit=50,
            remaining=50 - i,
            used=i,
            reset_at=T0 + HOUR,
            retry_after=0,
            window=HOUR,
        )
        now += 0.5

    denied = await limiter.hit(org, HOUR, now)
    assert not denied.allowed
    assert (denied.limit, denied.remaining, denied.used) == (50, 0, 50)
    assert denied.reset_at == T0 + HOUR
    assert denied.retry_after == math.ceil(T0 + HOUR - now) > 0


async def test_window_starts_over_once_its_end_has_passed(limiter: Limiter) -> None:
    key = [Bucket("key:key_a", 2)]
    await limiter.hit(key, 60, T0)
    await limiter.hit(key, 60, T0 + 10)

    just_before = await limiter.hit(key, 60, T0 + 59.999)
    assert not just_before.allowed
    assert just_before.retry_after == 1

    later = T0 + 60
    fresh = await limiter.hit(key, 60, later)
    assert fresh == Decision(
        allowed=True, limit=2, remaining=1, used=1, reset_at=later + 60, retry_after=0, window=60
    )


async def test_window_starts_at_first_request_not_on_a_grid(limiter: Limiter) -> None:
    d = await limiter.hit([Bucket("org:org_1", 5)], HOUR, T0 + 1234.5)
    assert d.reset_at == T0 + 1234.5 + HOUR


async def test_key_bucket_binds_and_a_deny_counts_nowhere(limiter: Limiter) -> None:
    org, key = Bucket("org:org_1", 100), Bucket("key:key_a", 3)
    for i in range(1, 4):
        d = await limiter.hit([org, key], HOUR, T0)
        assert (d.allowed, d.limit, d.remaining, d.used) == (True, 3, 3 - i, i)

    for _ in range(5):
        d = await limiter.hit([org, key], HOUR, T0 + 1)
        assert (d.allowed, d.limit, d.remaining, d.used) == (False, 3, 0, 3)

    assert (await limiter.peek([org], HOUR, T0 + 2)).used == 3
    assert (await limiter.peek([key], HOUR, T0 + 2)).used == 3


async def test_org_limit_is_shared_by_its_keys(limiter: Limiter) -> None:
    org = Bucket("org:org_1", 5)
    key_a, key_b = Bucket("key:key_a", 3), Bucket("key:key_b", 3)
    for _ in range(3):
        assert (await limiter.hit([org, key_a], HOUR, T0)).allowed
    assert not (await limiter.hit([org, key_a], HOUR, T0)).allowed

    d = await limiter.hit([org, key_b], HOUR, T0)
    assert (d.allowed, d.limit, d.remaining) == (True, 5, 1)
    d = await limiter.hit([org, key_b], HOUR, T0)
    assert (d.allowed, d.limit, d.remaining) == (True, 5, 0)

    d = await limiter.hit([org, key_b], HOUR, T0)
    assert (d.allowed, d.limit, d.used) == (False, 5, 5)
    assert (await limiter.peek([key_b], HOUR, T0)).used == 2


async def test_deny_reports_the_bucket_that_frees_up_last(limiter: Limiter) -> None:
    early, late = Bucket("key:early", 1), Bucket("key:late", 1)
    await limiter.hit([early], HOUR, T0)
    await limiter.hit([late], HOUR, T0 + 100)

    d = await limiter.hit([early, late], HOUR, T0 + 200)
    assert not d.allowed
    assert d.reset_at == T0 + 100 + HOUR
    assert d.retry_after == HOUR - 100


async def test_peek_does_not_count(limiter: Limiter) -> None:
    key = [Bucket("key:key_a", 2)]
    assert await limiter.peek(key, HOUR, T0) == Decision(
        allowed=True, limit=2, remaining=2, used=0, reset_at=T0 + HOUR, retry_after=0, window=HOUR
    )

    await limiter.hit(key, HOUR, T0)
    for _ in range(3):
        d = await limiter.peek(key, HOUR, T0 + 5)
        assert (d.allowed, d.remaining, d.used, d.reset_at) == (True, 1, 1, T0 + HOUR)

    await limiter.hit(key, HOUR, T0 + 6)
    full = await limiter.peek(key, HOUR, T0 + 7)
    assert (full.allowed, full.remaining, full.used) == (False, 0, 2)
    assert full.retry_after == HOUR - 7


async def test_reset_forgets_a_bucket(limiter: Limiter) -> None:
    key = [Bucket("key:key_a", 1)]
    await limiter.hit(key, HOUR, T0)
    assert not (await limiter.hit(key, HOUR, T0 + 1)).allowed

    await limiter.reset("key:key_a")
    d = await limiter.hit(key, HOUR, T0 + 2)
    assert (d.allowed, d.used, d.reset_at) == (True, 1, T0 + 2 + HOUR)


async def test_concurrent_hits_on_one_instance_are_exact(limiter: Limiter) -> None:
    org = [Bucket("org:org_1", 50)]
    decisions = await asyncio.gather(*(limiter.hit(org, HOUR, T0) for _ in range(200)))
    allowed = [d for d in decisions if d.allowed]
    assert len(allowed) == 50
    assert sorted(d.used for d in allowed) == list(range(1, 51))


@pytest.mark.parametrize(
    ("buckets", "window"),
    [
        ([], HOUR),
        ([Bucket("key:a", 1), Bucket("key:a", 2)], HOUR),
        ([Bucket("key:a", 1)], 0),
    ],
)
async def test_meaningless_calls_are_rejected(
    limiter: Limiter, buckets: list[Bucket], window: int
) -> None:
    with pytest.raises(ValueError):
        await limiter.hit(buckets, window, T0)


# --- in process -----------------------------------------------------------------------


async def test_memory_evicts_expired_buckets() -> None:
    limiter = MemoryLimiter(sweep_interval=60)
    for i in range(100):
        await limiter.hit([Bucket(f"authfail:10.0.0.{i}", 5)], 60, T0)
    assert len(limiter) == 100

    await limiter.hit([Bucket("authfail:10.0.1.1", 5)], 60, T0 + 30)
    assert len(limiter) == 101

    await limiter.hit([Bucket("authfail:10.0.1.2", 5)], 60, T0 + 61)
    assert len(limiter) == 2


# --- Redis ----------------------------------------------------------------------------


async def test_two_instances_sharing_redis_allow_exactly_the_limit(
    make_redis: RedisFactory,
) -> None:
    first, second = make_redis(), make_redis()
    org = [Bucket("org:org_1", 50)]
    decisions = await asyncio.gather(
        *((first if i % 2 else second).hit(org, HOUR, T0) for i in range(200))
    )
    allowed = [d for d in decisions if d.allowed]
    assert len(allowed) == 50
    assert sorted(d.used for d in allowed) == list(range(1, 51))
    assert all(d.retry_after > 0 for d in decisions if not d.allowed)


async def test_built_limiter_takes_a_burst_beyond_its_pool_without_degrading(
    redis_admin: Redis,
) -> None:
    limiter = build_limiter(REDIS_URL)
    bucket_key = f"org:test-burst-{uuid.uuid4().hex}"
    org = [Bucket(bucket_key, 50)]
    try:
        decisions = await asyncio.gather(*(limiter.hit(org, HOUR, T0) for _ in range(300)))
        assert sum(d.allowed for d in decisions) == 50
        assert not limiter.degraded
        assert await redis_admin.exists("botyard:rl:" + bucket_key)
    finally:
        await limiter.reset(bucket_key)
        await limiter.close()


async def test_redis_key_is_a_hash_that_expires_with_its_window(
    make_redis: RedisFactory, redis_admin: Redis, prefix: str
) -> None:
    await make_redis().hit([Bucket("key:key_a", 5)], 60, T0)
    stored = await redis_admin.hgetall(prefix + "key:key_a")
    assert stored == {b"start_ms": str(int(T0 * 1000)).encode(), b"count": b"1"}
    assert 0 < await redis_admin.pttl(prefix + "key:key_a") <= 60_000


async def test_redis_recovers_from_a_flushed_script_cache(
    make_redis: RedisFactory, redis_admin: Redis
) -> None:
    limiter = make_redis()
    key = [Bucket("key:key_a", 5)]
    assert (await limiter.hit(key, HOUR, T0)).used == 1

    await redis_admin.script_flush()
    assert (await limiter.hit(key, HOUR, T0)).used == 2
    assert (await limiter.peek(key, HOUR, T0)).used == 2


# --- degraded mode --------------------------------------------------------------------


async def test_unreachable_redis_falls_back_to_memory_and_still_denies(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = build_limiter(CLOSED_PORT_URL)
    key = [Bucket("key:key_a", 3)]
    assert not limiter.degraded
    with caplog.at_level(logging.WARNING, logger="botyard.ratelimit.limiter"):
        for i in range(1, 4):
            d = await limiter.hit(key, HOUR, T0)
            assert (d.allowed, d.used) == (True, i)
            assert limiter.degraded
        denied = await limiter.hit(key, HOUR, T0)
        assert not denied.allowed
        assert denied.retry_after == HOUR
        assert (await limiter.peek(key, HOUR, T0)).used == 3
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "Redis unreachable, rate limits are per-process until it returns" in (
        warnings[0].getMessage()
    )
    await limiter.close()


async def test_build_limiter_without_redis_is_in_process() -> None:
    limiter = build_limiter(None)
    assert isinstance(limiter, MemoryLimiter)
    assert not limiter.degraded


async def test_recovery_resumes_the_shared_count(
    make_redis: RedisFactory, caplog: pytest.LogCaptureFixture
) -> None:
    flaky = SwitchableLimiter(make_redis())
    limiter = ResilientLimiter(flaky, MemoryLimiter(), retry_interval=0)
    observer = make_redis()
    org = [Bucket("org:org_1", 10)]

    with caplog.at_level(logging.INFO, logger="botyard.ratelimit.limiter"):
        assert (await limiter.hit(org, HOUR, T0)).used == 1
        assert not limiter.degraded

        flaky.down = True
        for i in range(1, 3):
            d = await limiter.hit(org, HOUR, T0 + 1)
            assert (d.allowed, d.used) == (True, i)
            assert limiter.degraded
        assert (await observer.peek(org, HOUR, T0 + 1)).used == 1

        flaky.down = False
        d = await limiter.hit(org, HOUR, T0 + 2)
        assert (d.used, d.reset_at) == (2, T0 + HOUR)
        assert not limiter.degraded
        assert (await observer.peek(org, HOUR, T0 + 2)).used == 2

    levels = [r.levelno for r in caplog.records if r.name == "botyard.ratelimit.limiter"]
    assert levels == [logging.WARNING, logging.INFO]


async def test_degraded_limiter_probes_redis_at_most_once_per_interval(
    make_redis: RedisFactory,
) -> None:
    flaky = SwitchableLimiter(make_redis())
    limiter = ResilientLimiter(flaky, MemoryLimiter(), retry_interval=3600)
    key = [Bucket("key:key_a", 100)]

    flaky.down = True
    await limiter.hit(key, HOUR, T0)
    assert flaky.calls == 1

    flaky.down = False
    for _ in range(20):
        assert (await limiter.hit(key, HOUR, T0)).allowed
    assert flaky.calls == 1
    assert limiter.degraded


async def test_refund_gives_back_one_request_in_the_current_window(limiter: Limiter) -> None:
    buckets = [Bucket("org:refund", 5)]
    for _ in range(3):
        await limiter.hit(buckets, HOUR, T0)
    after = await limiter.refund(buckets, HOUR, T0 + 1)
    assert (after.used, after.remaining, after.reset_at) == (2, 3, T0 + HOUR)


async def test_refund_never_goes_below_zero_or_into_a_new_window(limiter: Limiter) -> None:
    buckets = [Bucket("org:refund-edge", 5)]
    await limiter.hit(buckets, HOUR, T0)
    assert (await limiter.refund(buckets, HOUR, T0)).used == 0
    assert (await limiter.refund(buckets, HOUR, T0)).used == 0
    await limiter.hit(buckets, HOUR, T0)
    assert (await limiter.refund(buckets, HOUR, T0 + HOUR + 1)).used == 0
