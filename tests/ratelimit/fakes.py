"""Test doubles for the rate limiter."""

from __future__ import annotations

from collections.abc import Sequence

from redis.exceptions import ConnectionError as RedisConnectionError

from botyard.ratelimit.limiter import Bucket, Decision, Limiter


class SwitchableLimiter:
    """Wraps a real limiter; while ``down`` it fails the way an unreachable Redis does."""

    def __init__(self, inner: Limiter) -> None:
        self.inner = inner
        self.down = False
        self.calls = 0

    @property
    def backend(self) -> str:
        return str(getattr(self.inner, "backend", "redis"))

    @property
    def degraded(self) -> bool:
        return False

    def _gate(self) -> None:
        self.calls += 1
        if self.down:
            raise RedisConnectionError("Redis switched off by the test")

    async def hit(self, buckets: Sequence[Bucket], window: int, now: float) -> Decision:
        self._gate()
        return await self.inner.hit(buckets, window, now)

    async def peek(self, buckets: Sequence[Bucket], window: int, now: float) -> Decision:
        self._gate()
        return await self.inner.peek(buckets, window, now)

    async def refund(self, buckets: Sequence[Bucket], window: int, now: float) -> Decision:
        self._gate()
        return await self.inner.refund(buckets, window, now)

    async def reset(self, bucket_key: str) -> None:
        self._gate()
        await self.inner.reset(bucket_key)

    async def close(self) -> None:
        await self.inner.close()
