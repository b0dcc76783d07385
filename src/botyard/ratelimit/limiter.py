"""Fixed-window rate limiting, exact across instances.

A window starts at the first counted request of a bucket and lasts ``window`` seconds
(as GitHub does). One ``hit`` checks and counts every bucket of a request in a single
atomic step, so a request that one bucket refuses is charged to none of them. Time is
passed in by the caller, which keeps the arithmetic testable without sleeping.

Internally every instant is a whole number of milliseconds, so the in-process and the
Redis implementation give identical answers for the same inputs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple, Protocol, TypeVar, cast

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = [
    "Bucket",
    "Decision",
    "Limiter",
    "MemoryLimiter",
    "RedisLimiter",
    "ResilientLimiter",
    "build_limiter",
]

_log = logging.getLogger(__name__)

_T = TypeVar("_T")


class Bucket(NamedTuple):
    """One counter a request is charged to, e.g. its organization or its API key.

    A named tuple: every API request makes one, in half a frozen dataclass's time."""

    key: str
    limit: int


class Decision(NamedTuple):
    """The outcome for the binding bucket, ready to become X-RateLimit-* headers.

    A named tuple rather than a frozen dataclass: every counted request makes one, and
    this builds in less than half the time while staying just as immutable."""

    allowed: bool
    limit: int
    remaining: int
    used: int
    reset_at: float
    retry_after: int
    window: int
    """Seconds, as the caller asked: the ``w=`` of RateLimit-Policy and ``window_seconds``."""

    @property
    def reset(self) -> int:
        """The window's end in whole epoch seconds, rounded up (X-RateLimit-Reset)."""
        return int(self.reset_at + 0.999)

    def resets_in(self, now: float) -> int:
        """Whole seconds from ``now`` until the window ends, rounded up, never negative."""
        return max(0, int(self.reset_at - now + 0.999))


class Limiter(Protocol):
    """What the app depends on, so the backend can be swapped or degraded unseen."""

    async def hit(self, buckets: Sequence[Bucket], window: int, now: float) -> Decision: ...

    async def peek(self, buckets: Sequence[Bucket], window: int, now: float) -> Decision: ...

    async def refund(self, buckets: Sequence[Bucket], window: int, now: float) -> Decision:
        """Give back one counted request (a 304 answer is free) and report the new state."""
        ...

    async def reset(self, bucket_key: str) -> None: ...

    async def close(self) -> None: ...

    @property
    def degraded(self) -> bool: ...


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _check(buckets: Sequence[Bucket], window: int) -> int:
    """Reject calls whose answer would be meaningless; return the window in ms."""
    count = len(buckets)
    if count == 0:
        raise ValueError("at least one bucket is required")
    if count > 1 and len({b.key for b in buckets}) != count:
        raise ValueError("bucket keys must be distinct")
    if window <= 0:
        raise ValueError("window must be positive")
    return _ms(window)


def _decide(
    buckets: Sequence[Bucket],
    states: Sequence[tuple[int, int]],
    allowed: bool,
    window_ms: int,
    now_ms: int,
) -> Decision:
    """Pick the binding bucket from each bucket's (start_ms, count) after the step.

    On a deny, of the full buckets the one that frees up last binds, so that
    ``retry_after`` is a time at which a retry can really succeed.
    """
    if len(buckets) == 1:  # the usual case: the organization's budget alone
        i = 0
    elif allowed:
        i = min(range(len(buckets)), key=lambda j: buckets[j].limit - states[j][1])
    else:
        full = [j for j in range(len(buckets)) if states[j][1] >= buckets[j].limit]
        i = max(full, key=lambda j: states[j][0])
    start_ms, used = states[i]
    return _decision(allowed, buckets[i].limit, start_ms, used, window_ms, now_ms)


def _decision(
    allowed: bool, limit: int, start_ms: int, used: int, window_ms: int, now_ms: int
) -> Decision:
    """The decision for the binding bucket, whose window started at ``start_ms``."""
    end_ms = start_ms + window_ms
    retry_after = 0 if allowed else max(1, -((now_ms - end_ms) // 1000))
    # allowed, limit, remaining, used, reset_at, retry_after, window (positional: per request)
    return Decision(
        allowed, limit, max(limit - used, 0), used, end_ms / 1000, retry_after, window_ms // 1000
    )


class _Window:
    __slots__ = ("count", "expires_ms", "start_ms")

    def __init__(self, start_ms: int, expires_ms: int) -> None:
        self.start_ms = start_ms
        self.expires_ms = expires_ms
        self.count = 0


class MemoryLimiter:
    """Per-process limiter: the fallback, and the whole story for a single instance.

    ``hit`` never awaits between checking and counting, so under asyncio it is atomic
    without a lock. Expired windows are swept at most every ``sweep_interval`` seconds
    of caller time, which bounds memory by the traffic of one window plus one interval.
    """

    backend = "memory"

    def __init__(self, sweep_interval: float = 60.0) -> None:
        self._windows: dict[str, _Window] = {}
        self._sweep_ms = _ms(sweep_interval)
        self._next_sweep_ms = 0

    def __len__(self) -> int:
        """Number of buckets held, expired ones included until the next sweep."""
        return len(self._windows)

    @property
    def degraded(self) -> bool:
        return False

    async def hit(self, buckets: Sequence[Bucket], window: int, now: float) -> Decision:
        return self._step(buckets, window, now, counting=True)

    async def peek(self, buckets: Sequence[Bucket], window: int, now: float) -> Decision:
        return self._step(buckets, window, now, counting=False)

    async def refund(self, buckets: Sequence[Bucket], window: int, now: float) -> Decision:
        now_ms = _ms(now)
        for bucket in buckets:
            w = self._windows.get(bucket.key)
            if w is not None and w.count > 0 and now_ms < w.start_ms + _ms(window):
                w.count -= 1
        return self._step(buckets, window, now, counting=False)

    async def reset(self, bucket_key: str) -> None:
        self._windows.pop(bucket_key, None)

    async def close(self) -> None:
        self._windows.clear()

    def _step(
        self, buckets: Sequence[Bucket], window: int, now: float, *, counting: bool
    ) -> Decision:
        window_ms = _check(buckets, window)
        now_ms = _ms(now)
        if counting and now_ms >= self._next_sweep_ms:
            self._sweep(now_ms)
        if len(buckets) == 1:
            return self._step_one(buckets[0], window_ms, now_ms, counting)
        current: list[_Window | None] = []
        states: list[tuple[int, int]] = []
        allowed = True
        for bucket in buckets:
            w = self._windows.get(bucket.key)
            if w is None or now_ms >= w.start_ms + window_ms:
                w = None
                state = (now_ms, 0)
            else:
                state = (w.start_ms, w.count)
            current.append(w)
            states.append(state)
            if state[1] >= bucket.limit:
                allowed = False
        if counting and allowed:
            for j, bucket in enumerate(buckets):
                w = current[j]
                if w is None:
                    w = self._windows[bucket.key] = _Window(now_ms, now_ms + window_ms)
                w.count += 1
                states[j] = (w.start_ms, w.count)
        return _decide(buckets, states, allowed, window_ms, now_ms)

    def _step_one(self, bucket: Bucket, window_ms: int, now_ms: int, counting: bool) -> Decision:
        """``_step`` for the usual case, an organization's budget alone, without the lists."""
        w = self._windows.get(bucket.key)
        if w is None or now_ms >= w.start_ms + window_ms:
            w, start_ms, used = None, now_ms, 0
        else:
            start_ms, used = w.start_ms, w.count
        allowed = used < bucket.limit
        if counting and allowed:
            if w is None:
                w = self._windows[bucket.key] = _Window(now_ms, now_ms + window_ms)
            w.count = used = used + 1
        return _decision(allowed, bucket.limit, start_ms, used, window_ms, now_ms)

    def _sweep(self, now_ms: int) -> None:
        """Forget expired windows, at most once per sweep interval of caller time."""
        self._next_sweep_ms = now_ms + self._sweep_ms
        self._windows = {k: w for k, w in self._windows.items() if now_ms < w.expires_ms}


# Two passes so that nothing is written unless every bucket has room. The key expires
# when its window ends, measured from the caller's clock like everything else here.
_HIT_SCRIPT = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local counting = ARGV[3] == '1'
local starts, counts, fresh = {}, {}, {}
local allowed = 1
for i = 1, #KEYS do
  local v = redis.call('HMGET', KEYS[i], 'start_ms', 'count')
  local start, count = tonumber(v[1]), tonumber(v[2])
  if start == nil or count == nil or now >= start + window then
    start, count, fresh[i] = now, 0, true
  end
  starts[i], counts[i] = start, count
  if count >= tonumber(ARGV[3 + i]) then
    allowed = 0
  end
end
local out = {allowed}
for i = 1, #KEYS do
  if counting and allowed == 1 then
    if fresh[i] then
      redis.call('HSET', KEYS[i], 'start_ms', now, 'count', 1)
      redis.call('PEXPIRE', KEYS[i], window)
      counts[i] = 1
    else
      counts[i] = redis.call('HINCRBY', KEYS[i], 'count', 1)
    end
  end
  out[#out + 1] = starts[i]
  out[#out + 1] = counts[i]
end
return out
"""


_REFUND_SCRIPT = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
for i = 1, #KEYS do
  local v = redis.call('HMGET', KEYS[i], 'start_ms', 'count')
  local start, count = tonumber(v[1]), tonumber(v[2])
  if start ~= nil and count ~= nil and count > 0 and now < start + window then
    redis.call('HINCRBY', KEYS[i], 'count', -1)
  end
end
return 1
"""


_Call = tuple[list[str], list[int], "asyncio.Future[Any]"]


class RedisLimiter:
    """Limiter shared by every instance through one Redis; exact under concurrency.

    Each bucket is a hash ``{start_ms, count}``; one Lua script checks and counts all
    buckets of a request, so no two instances can both take the last slot. The
    limiter owns ``client`` and closes it in ``close``.

    Checks arriving while others are on the wire are pipelined: each request still runs
    its own EVALSHA (Redis runs every script atomically, in order), but the scripts of
    concurrent requests share one write and one read, which cuts the client's CPU per
    check about threefold under load; a request that finds Redis idle is sent at once.
    """

    backend = "redis"

    def __init__(self, client: Redis, prefix: str = "botyard:rl:", max_batch: int = 256) -> None:
        self._client = client
        self._prefix = prefix
        self._shas: dict[str, str] = {}
        self._max_batch = max_batch
        self._queue: list[_Call] = []
        self._busy = False
        self._drainer: asyncio.Task[None] | None = None

    @property
    def degraded(self) -> bool:
        return False

    async def hit(self, buckets: Sequence[Bucket], window: int, now: float) -> Decision:
        return await self._step(buckets, window, now, counting=True)

    async def peek(self, buckets: Sequence[Bucket], window: int, now: float) -> Decision:
        return await self._step(buckets, window, now, counting=False)

    async def refund(self, buckets: Sequence[Bucket], window: int, now: float) -> Decision:
        window_ms = _check(buckets, window)
        keys = [self._prefix + b.key for b in buckets]
        await self._run_script(_REFUND_SCRIPT, keys, [_ms(now), window_ms])
        return await self._step(buckets, window, now, counting=False)

    async def reset(self, bucket_key: str) -> None:
        await cast(Awaitable[Any], self._client.delete(self._prefix + bucket_key))

    async def close(self) -> None:
        if self._drainer is not None and not self._drainer.done():
            self._drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drainer
        for _, _, future in self._queue:
            if not future.done():
                future.set_exception(RedisConnectionError("the rate limiter was closed"))
        self._queue.clear()
        await self._client.aclose()

    async def _step(
        self, buckets: Sequence[Bucket], window: int, now: float, *, counting: bool
    ) -> Decision:
        window_ms = _check(buckets, window)
        now_ms = _ms(now)
        keys = [self._prefix + b.key for b in buckets]
        args = [now_ms, window_ms, 1 if counting else 0, *(b.limit for b in buckets)]
        reply = await self._submit(keys, args)
        allowed = int(reply[0]) == 1
        states = [(int(reply[1 + 2 * j]), int(reply[2 + 2 * j])) for j in range(len(buckets))]
        return _decide(buckets, states, allowed, window_ms, now_ms)

    async def _submit(self, keys: list[str], args: list[int]) -> list[Any]:
        """Run one hit-script call: at once when Redis is idle, else queued for a pipeline."""
        if not self._busy:
            self._busy = True
            try:
                return cast(list[Any], await self._run_script(_HIT_SCRIPT, keys, args))
            finally:
                self._busy = False
                self._start_drainer()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((keys, args, future))
        return cast(list[Any], await future)

    def _start_drainer(self) -> None:
        if self._queue and not self._busy:
            self._busy = True
            self._drainer = asyncio.get_running_loop().create_task(
                self._drain(), name="redis-limiter-pipeline"
            )

    async def _drain(self) -> None:
        """Send what queued up while Redis was busy, as pipelines, until the queue is empty."""
        try:
            while self._queue:
                taken = self._queue[: self._max_batch]
                del self._queue[: len(taken)]
                # A request cancelled while waiting is not sent, so it is not counted.
                batch = [call for call in taken if not call[2].done()]
                if not batch:
                    continue
                try:
                    replies = await self._hit_many(batch)
                except BaseException as exc:
                    # Every caller of the batch sees the failure (ResilientLimiter degrades).
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (_, _, future), reply in zip(batch, replies, strict=True):
                    if future.done():
                        continue  # cancelled while on the wire: counted, as any sent hit
                    if isinstance(reply, Exception):
                        future.set_exception(reply)
                    else:
                        future.set_result(reply)
        finally:
            self._busy = False

    async def _hit_many(self, batch: list[_Call]) -> list[Any]:
        """One pipeline of EVALSHAs, re-sending those Redis answered NOSCRIPT after a reload."""
        sha = self._shas.get(_HIT_SCRIPT)
        if sha is None:
            sha = self._shas[_HIT_SCRIPT] = await self._load(_HIT_SCRIPT)
        replies = await self._pipeline(sha, batch)
        lost = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if lost:
            sha = self._shas[_HIT_SCRIPT] = await self._load(_HIT_SCRIPT)
            again = await self._pipeline(sha, [batch[i] for i in lost])
            for i, reply in zip(lost, again, strict=True):
                replies[i] = reply
        return replies

    async def _pipeline(self, sha: str, batch: list[_Call]) -> list[Any]:
        pipe = self._client.pipeline(transaction=False)
        for keys, args, _ in batch:
            pipe.evalsha(sha, len(keys), *keys, *args)
        return list(await pipe.execute(raise_on_error=False))

    async def _run_script(self, script: str, keys: list[str], args: list[int]) -> Any:
        """EVALSHA, reloading once if Redis lost its script cache (restart, FLUSH)."""
        sha = self._shas.get(script)
        if sha is None:
            sha = self._shas[script] = await self._load(script)
        try:
            return await self._evalsha(sha, keys, args)
        except NoScriptError:
            sha = self._shas[script] = await self._load(script)
            return await self._evalsha(sha, keys, args)

    async def _load(self, script: str) -> str:
        sha = await cast(Awaitable[str | bytes], self._client.script_load(script))
        return sha.decode() if isinstance(sha, bytes) else sha

    async def _evalsha(self, sha: str, keys: list[str], args: list[int]) -> list[Any]:
        call = self._client.evalsha(sha, len(keys), *keys, *args)
        return cast(list[Any], await cast(Awaitable[Any], call))


# Only failures to reach Redis mean "degrade"; a script bug or a bad reply must surface.
_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


class ResilientLimiter:
    """Shared limits while Redis answers, per-process limits while it does not.

    It never fails open: without Redis every process still enforces the limits on its
    own, which at worst multiplies the effective limit by the number of processes.
    While degraded, the primary is probed at most once per ``retry_interval`` seconds,
    so an outage costs one connection timeout per interval, not one per request.
    """

    def __init__(
        self,
        primary: Limiter,
        fallback: MemoryLimiter,
        retry_interval: float = 5.0,
        logger: logging.Logger | None = None,
    ) -> None:
        self._primary = primary
        self._fallback = fallback
        self._retry_interval = retry_interval
        self._log = logger or _log
        self._degraded = False
        self._next_probe = 0.0

    @property
    def degraded(self) -> bool:
        return self._degraded

    @property
    def backend(self) -> str:
        """The shared store's name (``redis``), even while serving from the fallback."""
        return str(getattr(self._primary, "backend", "redis"))

    async def hit(self, buckets: Sequence[Bucket], window: int, now: float) -> Decision:
        return await self._route(
            lambda: self._primary.hit(buckets, window, now),
            lambda: self._fallback.hit(buckets, window, now),
        )

    async def peek(self, buckets: Sequence[Bucket], window: int, now: float) -> Decision:
        return await self._route(
            lambda: self._primary.peek(buckets, window, now),
            lambda: self._fallback.peek(buckets, window, now),
        )

    async def refund(self, buckets: Sequence[Bucket], window: int, now: float) -> Decision:
        return await self._route(
            lambda: self._primary.refund(buckets, window, now),
            lambda: self._fallback.refund(buckets, window, now),
        )

    async def reset(self, bucket_key: str) -> None:
        """Clear both stores, so a reset also holds through a later outage."""
        await self._fallback.reset(bucket_key)
        await self._route(
            lambda: self._primary.reset(bucket_key),
            lambda: self._fallback.reset(bucket_key),
        )

    async def close(self) -> None:
        try:
            await self._primary.close()
        finally:
            await self._fallback.close()

    async def _route(
        self,
        primary: Callable[[], Awaitable[_T]],
        fallback: Callable[[], Awaitable[_T]],
    ) -> _T:
        if self._degraded:
            if time.monotonic() < self._next_probe:
                return await fallback()
            # Claim the probe before awaiting so concurrent requests keep to the fallback.
            self._next_probe = time.monotonic() + self._retry_interval
        try:
            result = await primary()
        except _UNREACHABLE as exc:
            self._next_probe = time.monotonic() + self._retry_interval
            if not self._degraded:
                self._degraded = True
                self._log.warning(
                    "Redis unreachable, rate limits are per-process until it returns: %s",
                    exc,
                )
            return await fallback()
        if self._degraded:
            self._degraded = False
            self._log.info("Redis reachable again, rate limits are shared again")
        return result


def build_limiter(redis_url: str | None) -> Limiter:
    """The limiter for a deployment: in process alone, or Redis with a local fallback.

    The pool blocks when all its connections are busy: redis-py's default pool raises
    ``MaxConnectionsError`` (a ``ConnectionError``) instead, which would make a burst of
    concurrent requests look like an outage and needlessly degrade to per-process limits.
    """
    if redis_url is None:
        return MemoryLimiter()
    pool = BlockingConnectionPool.from_url(
        redis_url,
        max_connections=100,
        timeout=0.5,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
    )
    return ResilientLimiter(RedisLimiter(Redis.from_pool(pool)), MemoryLimiter())
