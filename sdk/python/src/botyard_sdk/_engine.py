"""What a request does, written once for both clients: headers, retries, the ETag cache and
error mapping, as a generator that yields the I/O it needs ("send this", "sleep that long").

:class:`SyncTransport` and :class:`AsyncTransport` drive the same generator with httpx's
blocking or async client, so the sync and async clients cannot drift apart in behaviour.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar

import httpx

from botyard_sdk._cache import ETagCache
from botyard_sdk._version import __version__
from botyard_sdk.errors import APIConnectionError, APIError, APITimeoutError, error_for_status

logger = logging.getLogger("botyard_sdk")

USER_AGENT = f"botyard-sdk-python/{__version__}"
RETRY_STATUSES = frozenset({408, 409, 429})
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
MAX_RETRY_AFTER = 60.0


@dataclass(frozen=True)
class Send:
    method: str
    url: str
    params: Mapping[str, str]
    headers: Mapping[str, str]
    json: Any


@dataclass(frozen=True)
class Sleep:
    seconds: float


Outcome = httpx.Response | httpx.TransportError | None
Steps = Generator[Send | Sleep, Outcome, Any]


class Engine:
    """The decisions about one client's requests; performs no I/O itself."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str,
        max_retries: int,
        cache: ETagCache,
        clock: Callable[[], float],
        jitter: Callable[[], float],
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self._authorization = f"Bearer {api_key}"
        self._api_key = api_key
        self.base_url = base_url
        self.max_retries = max_retries
        self.cache = cache
        self._clock = clock
        self._jitter = jitter

    def exchange(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str],
        body: Any,
        conditional: bool,
    ) -> Steps:
        """Send until an answer is final; returns its parsed JSON, or raises an APIError.

        A POST gets one Idempotency-Key for all its attempts, so a retry of a request whose
        answer was lost returns the first result instead of acting twice."""
        headers = {
            "Authorization": self._authorization,
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }
        if method == "POST":
            headers["Idempotency-Key"] = str(uuid.uuid4())
        url = self.base_url + path
        cache_key = str(httpx.URL(url, params=params)) if conditional else ""
        cached = self.cache.get(cache_key) if conditional else None
        if cached is not None:
            headers["If-None-Match"] = cached.etag
        elif method != "GET":
            self.cache.forget(url)
        send = Send(method, url, params, headers, body)
        attempt = 0
        while True:
            outcome = yield send
            if isinstance(outcome, httpx.Response):
                if outcome.status_code == 304 and cached is not None:
                    return json.loads(cached.body)
                if outcome.is_success:
                    if conditional:
                        self._remember(cache_key, outcome)
                    return _json(outcome) if outcome.content else None
                error = self._error(outcome)
                if conditional:
                    self.cache.forget(cache_key)
                delay = self._retry_delay(error, attempt)
                if delay is None:
                    raise error
                reason = f"HTTP {outcome.status_code}"
            else:
                assert isinstance(outcome, httpx.TransportError)
                if attempt >= self.max_retries:
                    raise self._connection_error(outcome) from outcome
                delay = self.backoff(attempt)
                reason = type(outcome).__name__
            attempt += 1
            logger.info(
                "Retrying %s %s in %.2f s after %s (retry %d of %d)",
                method,
                path,
                delay,
                reason,
                attempt,
                self.max_retries,
            )
            yield Sleep(delay)

    def backoff(self, attempt: int) -> float:
        """Full jitter: a random wait between 0 and 0.5 s × 2^attempt, at most 8 s."""
        return self._jitter() * min(BACKOFF_CAP, BACKOFF_BASE * 2.0**attempt)

    def _retry_delay(self, error: APIError, attempt: int) -> float | None:
        """How long to wait before retrying ``error``, or None to raise it now.

        A Retry-After beyond a minute means the budget is spent for a while (the hourly
        window): waiting inside a call that long would look like a hang, so it is raised at
        once with ``retry_after`` for the caller to schedule."""
        assert error.status is not None
        retryable = error.status in RETRY_STATUSES or error.status >= 500
        if not retryable or attempt >= self.max_retries:
            return None
        if error.retry_after is None:
            return self.backoff(attempt)
        if error.retry_after > MAX_RETRY_AFTER:
            return None
        return error.retry_after

    def _remember(self, cache_key: str, response: httpx.Response) -> None:
        etag = response.headers.get("etag")
        if etag and "no-store" not in response.headers.get("cache-control", ""):
            self.cache.put(cache_key, etag, response.content)

    def _error(self, response: httpx.Response) -> APIError:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        return error_for_status(
            response.status_code,
            body,
            response.headers,
            retry_after=self._retry_after(response.headers.get("retry-after")),
            redact=self._api_key,
        )

    def _retry_after(self, value: str | None) -> float | None:
        """Seconds from a Retry-After header: a number, or an HTTP date."""
        if value is None:
            return None
        try:
            seconds = float(value)
        except ValueError:
            try:
                seconds = parsedate_to_datetime(value).timestamp() - self._clock()
            except (TypeError, ValueError):
                return None
        return max(0.0, seconds)

    def _connection_error(self, exc: httpx.TransportError) -> APIConnectionError:
        detail = str(exc).replace(self._api_key, "[redacted]") or type(exc).__name__
        if isinstance(exc, httpx.TimeoutException):
            return APITimeoutError(f"Request timed out: {detail}")
        return APIConnectionError(f"Could not reach the Botyard API: {detail}")


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise APIError(
            f"HTTP {response.status_code} answer is not JSON",
            status=response.status_code,
            request_id=response.headers.get("x-request-id"),
        ) from None


H = TypeVar("H", httpx.Client, httpx.AsyncClient)
S = TypeVar("S")


class _Driver(Generic[H, S]):
    """What both transports hold; each drives an engine's steps with its own kind of I/O."""

    def __init__(
        self, engine: Engine, http: H, *, timeout: float | httpx.Timeout | None, sleep: S
    ) -> None:
        self.engine = engine
        self.http: H = http
        self.timeout = timeout
        self.sleep: S = sleep

    def _steps(
        self, method: str, path: str, params: Mapping[str, str] | None, body: Any, conditional: bool
    ) -> Steps:
        return self.engine.exchange(
            method, path, params=params or {}, body=body, conditional=conditional
        )


class SyncTransport(_Driver[httpx.Client, Callable[[float], None]]):
    """Drives an :class:`Engine`'s steps with a blocking httpx client."""

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        conditional: bool = False,
    ) -> Any:
        steps = self._steps(method, path, params, body, conditional)
        step = next(steps)
        while True:
            outcome: Outcome = None
            if isinstance(step, Sleep):
                self.sleep(step.seconds)
            else:
                try:
                    outcome = self.http.send(_build(self.http, step, self.timeout))
                except httpx.TransportError as exc:
                    outcome = exc
            try:
                step = steps.send(outcome)
            except StopIteration as done:
                return done.value


class AsyncTransport(_Driver[httpx.AsyncClient, Callable[[float], Awaitable[None]]]):
    """Drives an :class:`Engine`'s steps with an async httpx client."""

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        conditional: bool = False,
    ) -> Any:
        steps = self._steps(method, path, params, body, conditional)
        step = next(steps)
        while True:
            outcome: Outcome = None
            if isinstance(step, Sleep):
                await self.sleep(step.seconds)
            else:
                try:
                    outcome = await self.http.send(_build(self.http, step, self.timeout))
                except httpx.TransportError as exc:
                    outcome = exc
            try:
                step = steps.send(outcome)
            except StopIteration as done:
                return done.value


def _build(
    http: httpx.Client | httpx.AsyncClient, step: Send, timeout: float | httpx.Timeout | None
) -> httpx.Request:
    extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
    if step.json is not None:
        extra["json"] = step.json
    return http.build_request(
        step.method, step.url, params=step.params, headers=step.headers, **extra
    )
