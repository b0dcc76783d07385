"""The periodic task that keeps the request log within its retention period."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from botyard.core import clock
from botyard.core.outage import BackgroundFailures
from botyard.requestlog.service import purge_expired

logger = logging.getLogger("botyard.requestlog")

PURGE_INTERVAL = 3600.0


class RetentionTask:
    """Purges expired request-log rows every ``interval`` seconds while the server runs.

    The first purge comes one interval after start-up, not at it: a restart loop or a
    short-lived instance (a CLI-started app, a test) never races other work on the table.
    ``sleep`` is injectable so tests can step the loop one run at a time instead of waiting.
    A failed purge is logged and retried at the next run; it never stops the server.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        retention_days: int,
        *,
        interval: float = PURGE_INTERVAL,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._sessionmaker = sessionmaker
        self.retention_days = retention_days
        self._failures = BackgroundFailures(logger, "request log retention purge")
        self._interval = interval
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None
        self.runs = 0
        self.purged = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="request-log-retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def purge_now(self) -> int:
        """Delete every row older than the retention period, as of the app clock's now."""
        async with self._sessionmaker() as session:
            deleted = await purge_expired(session, clock.now(), self.retention_days)
            await session.commit()
        self.runs += 1
        self.purged += deleted
        if deleted:
            logger.info(
                "request log retention: deleted %d rows older than %d days",
                deleted,
                self.retention_days,
            )
        return deleted

    async def _run(self) -> None:
        while True:
            await self._sleep(self._interval)
            try:
                await self.purge_now()
                self._failures.succeeded()
            except Exception as exc:
                self._failures.failed(exc)
