"""``Botyard`` and ``AsyncBotyard``: configuration, the HTTP client, and the resources."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

import httpx

from botyard_sdk._cache import ETagCache
from botyard_sdk._engine import AsyncTransport, Engine, SyncTransport
from botyard_sdk._operations import Async, Sync
from botyard_sdk.errors import BotyardError
from botyard_sdk.resources import Root

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 2
DEFAULT_ETAG_CACHE_SIZE = 256
API_KEY_ENV = "BOTYARD_API_KEY"
BASE_URL_ENV = "BOTYARD_BASE_URL"

Timeout = float | httpx.Timeout


def _key_hint(api_key: str) -> str:
    """The key's first 8 and last 4 characters, as the dashboard shows it."""
    return f"{api_key[:8]}…{api_key[-4:]}" if len(api_key) > 16 else "…"


def _settings(api_key: str | None, base_url: str | None) -> tuple[str, str]:
    """The key and the server's root, from the arguments or the environment, as the guide
    advises (keys in environment variables, never in code)."""
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
    if not key:
        raise BotyardError(
            f"No API key: set the {API_KEY_ENV} environment variable or pass api_key="
        )
    root = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    root = root.rstrip("/").removesuffix("/v1")
    if not root.startswith(("http://", "https://")):
        raise BotyardError(f"base_url must start with http:// or https://, got {root!r}")
    return key.strip(), root


class _Configured:
    """What both clients hold besides their transport: never the key in ``repr()``."""

    base_url: str
    _hint: str
    _owns_http: bool

    def _configure(
        self,
        api_key: str | None,
        base_url: str | None,
        max_retries: int,
        etag_cache_size: int,
        clock: Callable[[], float],
        jitter: Callable[[], float],
    ) -> Engine:
        key, self.base_url = _settings(api_key, base_url)
        self._hint = _key_hint(key)
        return Engine(
            key,
            base_url=self.base_url,
            max_retries=max_retries,
            cache=ETagCache(etag_cache_size),
            clock=clock,
            jitter=jitter,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_key={self._hint!r})"


class Botyard(_Configured, Root[Sync]):
    """The Botyard API, blocking. Use it as a context manager, or call ``close()``.

    ``api_key`` defaults to ``$BOTYARD_API_KEY`` and ``base_url`` (the server's root, without
    ``/v1``) to ``$BOTYARD_BASE_URL``. Failed requests are retried ``max_retries`` times
    (408, 409, 429, 5xx and connection errors) with exponential backoff and full jitter;
    ``sleep``, ``jitter`` and ``clock`` are there for tests. ``http_client`` lets you bring
    your own ``httpx.Client`` (proxies, transports); it is then yours to close.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeout: Timeout | None = None,
        http_client: httpx.Client | None = None,
        etag_cache_size: int = DEFAULT_ETAG_CACHE_SIZE,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
    ) -> None:
        engine = self._configure(api_key, base_url, max_retries, etag_cache_size, clock, jitter)
        self._owns_http = http_client is None
        http = http_client or httpx.Client(timeout=timeout or DEFAULT_TIMEOUT)
        self._http = http
        super().__init__(SyncTransport(engine, http, timeout=timeout, sleep=sleep))

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class AsyncBotyard(_Configured, Root[Async]):
    """The Botyard API for asyncio: the same as :class:`Botyard`, with ``await``.

    Lists return pagers to ``async for`` over; ``await client.aclose()`` or use
    ``async with``."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeout: Timeout | None = None,
        http_client: httpx.AsyncClient | None = None,
        etag_cache_size: int = DEFAULT_ETAG_CACHE_SIZE,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
    ) -> None:
        engine = self._configure(api_key, base_url, max_retries, etag_cache_size, clock, jitter)
        self._owns_http = http_client is None
        http = http_client or httpx.AsyncClient(timeout=timeout or DEFAULT_TIMEOUT)
        self._http = http
        super().__init__(AsyncTransport(engine, http, timeout=timeout, sleep=sleep))

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
