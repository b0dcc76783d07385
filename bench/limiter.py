"""Cost of one rate-limit ``hit`` per backend, as paid by every authenticated request.

Run: .venv/bin/python bench/limiter.py [calls] [redis_url]

Each call charges the organization's bucket alone (the usual case) or it and a key's lower
limit (two buckets), as the app does. Calls are sequential on one client, so the Redis figure
is one round trip plus the script.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid

from redis.asyncio import Redis
from redis.exceptions import RedisError

from botyard.ratelimit.limiter import Bucket, Limiter, MemoryLimiter, RedisLimiter

WINDOW = 3600
NOW = 1_700_000_000.0


async def measure(limiter: Limiter, calls: int, count: int) -> tuple[float, float]:
    """Mean and p99 in microseconds over ``count`` buckets, after a warm-up that loads the
    script and pool."""
    tag = uuid.uuid4().hex
    buckets = [Bucket(f"org:bench-{tag}", 10**9), Bucket(f"key:bench-{tag}", 10**9)][:count]
    for _ in range(min(1000, calls)):
        await limiter.hit(buckets, WINDOW, NOW)
    samples: list[float] = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        await limiter.hit(buckets, WINDOW, NOW)
        samples.append((time.perf_counter_ns() - start) / 1000)
    for bucket in buckets:
        await limiter.reset(bucket.key)
    samples.sort()
    return statistics.fmean(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


async def redis_limiter(redis_url: str) -> RedisLimiter | None:
    """A limiter on its own client (which it closes), or None when Redis does not answer."""
    client = Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        await client.ping()
    except (RedisError, OSError):
        await client.aclose()
        return None
    return RedisLimiter(client, prefix="botyard:bench:")


async def main(calls: int, redis_url: str) -> None:
    print(f"hit(), {calls} sequential calls")
    print(f"{'backend':<8} {'buckets':>8} {'mean us':>10} {'p99 us':>10}")
    for count in (1, 2):
        mean, p99 = await measure(MemoryLimiter(), calls, count)
        print(f"{'memory':<8} {count:>8} {mean:>10.1f} {p99:>10.1f}")
        limiter = await redis_limiter(redis_url)
        if limiter is None:
            print("redis: skipped (unreachable)")
            continue
        try:
            mean, p99 = await measure(limiter, calls, count)
        finally:
            await limiter.close()
        print(f"{'redis':<8} {count:>8} {mean:>10.1f} {p99:>10.1f}")


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    url = sys.argv[2] if len(sys.argv) > 2 else "redis://127.0.0.1:6379/0"
    asyncio.run(main(n, url))
