"""A clean shutdown in the middle of a batch neither loses nor duplicates rows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from botyard.core import clock
from botyard.core.ids import new_id
from botyard.requestlog.models import RequestLog
from botyard.requestlog.writer import LogEntry, RequestLogWriter


def entry() -> LogEntry:
    return LogEntry(
        id=new_id("log"),
        created_at=clock.now(),
        method="GET",
        route="/v1/me",
        status=200,
        latency_ms=1.0,
        request_id=new_id("req"),
        ip="192.0.2.200",
        user_agent="shutdown test",
    )


async def test_stopping_while_a_batch_commits_writes_each_row_once(app: FastAPI) -> None:
    committed, release = asyncio.Event(), asyncio.Event()

    @asynccontextmanager
    async def slow_after_commit() -> AsyncIterator[AsyncSession]:
        """A session whose commit lands, then lingers, like a slow close after commit."""
        async with app.state.sessionmaker() as session:
            real_commit = session.commit

            async def commit() -> None:
                await real_commit()
                committed.set()
                await release.wait()

            session.commit = commit  # type: ignore[method-assign]
            yield session

    writer = RequestLogWriter(slow_after_commit, flush_interval=3600, batch_size=3)  # type: ignore[arg-type]
    writer.start()
    entries = [entry() for _ in range(3)]
    for e in entries:
        writer.add(e)
    await asyncio.wait_for(committed.wait(), timeout=10)

    stopping = asyncio.create_task(writer.stop())
    for _ in range(5):
        await asyncio.sleep(0)  # let stop() reach the running batch
    release.set()
    await asyncio.wait_for(stopping, timeout=10)

    late = entry()
    writer.add(late)
    await writer.flush()
    async with app.state.sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).where(RequestLog.id.in_([e.id for e in [*entries, late]]))
        )
    assert count == 4
    assert writer.written == 4
