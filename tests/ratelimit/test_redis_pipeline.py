"""Concurrent checks on one RedisLimiter share round trips without losing exactness."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from botyard.ratelimit.limiter import Bucket, RedisLimiter
from tests.backends import REDIS_URL, unavailable

T0 = 1_700_000_000.0
HOUR = 3600


def _client(url: str = REDIS_URL) -> Redis:
    pool = BlockingConnectionPool.from_url(
        url, max_connections=20, timeout=5, socket_timeout=2, socket_connect_timeout=2
    )
    return Redis.from_pool(pool)


@pytest.fixture
async def limiter() -> AsyncIterator[RedisLimiter]:
    admin = _client()
    try:
        await admin.ping()
    except (RedisConnectionError, OSError) as exc:
        await admin.aclose()
        unavailable(f"Redis at {REDIS_URL}", str(exc) or type(exc).__name__)
    prefix = f"botyard-test:pipe:{uuid.uuid4().hex}:"
    made = RedisLimiter(_client(), prefix=prefix)
    yield made
    await made.close()
    keys = [k async for k in admin.scan_iter(match=prefix + "*")]
    if keys:
        await admin.delete(*keys)
    await admin.aclose()


def count_round_trips(limiter: RedisLimiter) -> dict[str, int]:
    """Wrap the two ways a check reaches Redis, counting each trip."""
    counts = {"direct": 0, "pipelines": 0, "pipelined_calls": 0}
    direct, pipeline = limiter._run_script, limiter._pipeline

    async def counted_direct(*args: Any) -> Any:
        counts["direct"] += 1
        return await direct(*args)

    async def counted_pipeline(sha: str, batch: list[Any]) -> list[Any]:
        counts["pipelines"] += 1
        counts["pipelined_calls"] += len(batch)
        return await pipeline(sha, batch)

    limiter._run_script = counted_direct  # type: ignore[method-assign]
    limiter._pipeline = counted_pipeline  # type: ignore[method-assign]
    return counts


async def test_concurrent_checks_share_round_trips_and_stay_exact(limiter: RedisLimiter) -> None:
    org = [Bucket("org:pipe", 60)]
    counts = count_round_trips(limiter)
    decisions = await asyncio.gather(*(limiter.hit(org, HOUR, T0) for _ in range(100)))
    allowed = sorted(d.used for d in decisions if d.allowed)
    assert allowed == list(range(1, 61))
    assert all(d.retry_after == HOUR for d in decisions if not d.allowed)
    assert counts["direct"] + counts["pipelined_calls"] == 100
    assert counts["direct"] + counts["pipelines"] <= 10  # not one round trip per check
    assert (await limiter.peek(org, HOUR, T0)).used == 60


async def test_a_lone_check_goes_straight_to_redis(limiter: RedisLimiter) -> None:
    counts = count_round_trips(limiter)
    for i in range(1, 4):
        assert (await limiter.hit([Bucket("org:lone", 10)], HOUR, T0)).used == i
    assert counts == {"direct": 3, "pipelines": 0, "pipelined_calls": 0}


async def test_pipelined_checks_reload_a_script_redis_forgot(limiter: RedisLimiter) -> None:
    org = [Bucket("org:noscript", 10)]
    await limiter.hit(org, HOUR, T0)  # loads the script
    limiter._busy = True  # as if a call were on the wire: the next checks queue up
    waiting = [asyncio.create_task(limiter.hit(org, HOUR, T0)) for _ in range(5)]
    await asyncio.sleep(0)
    admin = _client()
    await admin.script_flush()
    await admin.aclose()
    limiter._busy = False
    limiter._start_drainer()
    used = sorted(d.used for d in await asyncio.gather(*waiting))
    assert used == [2, 3, 4, 5, 6]


async def test_a_cancelled_waiter_leaves_the_others_served(limiter: RedisLimiter) -> None:
    org = [Bucket("org:cancel", 10)]
    limiter._busy = True
    waiting = [asyncio.create_task(limiter.hit(org, HOUR, T0)) for _ in range(4)]
    await asyncio.sleep(0)
    waiting[1].cancel()
    limiter._busy = False
    limiter._start_drainer()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert isinstance(results[1], asyncio.CancelledError)
    served = [r for i, r in enumerate(results) if i != 1]
    assert all(not isinstance(r, BaseException) and r.allowed for r in served)
    # The request cancelled before its check was sent is not counted.
    assert (await limiter.peek(org, HOUR, T0)).used == 3


async def test_unreachable_redis_fails_every_waiting_check() -> None:
    limiter = RedisLimiter(_client("redis://127.0.0.1:1/0"), prefix="botyard-test:down:")
    results = await asyncio.gather(
        *(limiter.hit([Bucket("org:down", 5)], HOUR, T0) for _ in range(10)),
        return_exceptions=True,
    )
    assert all(isinstance(r, RedisConnectionError | OSError) for r in results), results
    await limiter.close()
