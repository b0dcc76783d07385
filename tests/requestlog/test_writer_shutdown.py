"""A clean shutdown in the middle of a batch neither loses nor duplicates rows."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from botyard.core import clock
from botyard.core.ids import new_id
from botyard.requestlog import writer as writer_module
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


async def test_stopping_while_a_batch_commits_writes_each_row_once(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    committed, release = asyncio.Event(), asyncio.Event()
    real_transaction = writer_module.run_in_transaction

    async def slow_after_commit(*args: Any) -> None:
        """A transaction that commits, then lingers, like a slow close after commit."""
        await real_transaction(*args)
        committed.set()
        await release.wait()

    monkeypatch.setattr(writer_module, "run_in_transaction", slow_after_commit)
    writer = RequestLogWriter(app.state.engine, flush_interval=3600, batch_size=3)
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
