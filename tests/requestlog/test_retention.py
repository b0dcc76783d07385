"""Retention: rows older than the configured days are purged at start-up and every hour."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from botyard.core.clock import FrozenClock
from botyard.requestlog.models import RequestLog
from botyard.requestlog.retention import PURGE_INTERVAL, RetentionTask
from botyard.requestlog.service import purge_expired
from tests.factories import make_org
from tests.requestlog.support import log_row, running_app, seed_logs


async def surviving(app: FastAPI, ids: list[str]) -> set[str]:
    async with app.state.sessionmaker() as session:
        return set(
            (await session.scalars(select(RequestLog.id).where(RequestLog.id.in_(ids)))).all()
        )


async def seed_at(app: FastAPI, *times: datetime) -> list[str]:
    org = await make_org(app)
    rows = [log_row(org.id, t) for t in times]
    await seed_logs(app, rows)
    return [r["id"] for r in rows]


async def test_purge_deletes_exactly_the_rows_past_retention(
    app: FastAPI, frozen_clock: FrozenClock
) -> None:
    now = frozen_clock.now()
    async with app.state.sessionmaker() as session:
        await purge_expired(session, now, 30)  # whatever earlier tests left behind
        await session.commit()
    expired, boundary, kept = await seed_at(
        app,
        now - timedelta(days=30, microseconds=1),
        now - timedelta(days=30),
        now - timedelta(days=29),
    )
    async with app.state.sessionmaker() as session:
        assert await purge_expired(session, now, 30) == 1
        await session.commit()
    assert await surviving(app, [expired, boundary, kept]) == {boundary, kept}


class Stepper:
    """Stands in for asyncio.sleep: the loop parks here until the test lets it run again."""

    def __init__(self) -> None:
        self.asleep: asyncio.Queue[float] = asyncio.Queue()
        self.wake: asyncio.Queue[None] = asyncio.Queue()

    async def sleep(self, seconds: float) -> None:
        self.asleep.put_nowait(seconds)
        await self.wake.get()

    async def parked(self) -> float:
        return await asyncio.wait_for(self.asleep.get(), timeout=10)


async def test_the_task_purges_every_hour(app: FastAPI, frozen_clock: FrozenClock) -> None:
    now = frozen_clock.now()
    old, ageing, recent = await seed_at(
        app,
        now - timedelta(days=8),
        now - timedelta(days=7) + timedelta(minutes=30),
        now - timedelta(days=1),
    )
    stepper = Stepper()
    task = RetentionTask(app.state.sessionmaker, 7, sleep=stepper.sleep)
    task.start()
    try:
        assert await stepper.parked() == PURGE_INTERVAL
        assert task.runs == 0  # nothing at start-up: the first purge is an hour in
        assert await surviving(app, [old, ageing, recent]) == {old, ageing, recent}

        stepper.wake.put_nowait(None)
        assert await stepper.parked() == PURGE_INTERVAL
        assert task.runs == 1
        assert await surviving(app, [old, ageing, recent]) == {ageing, recent}

        frozen_clock.advance(timedelta(hours=1))
        stepper.wake.put_nowait(None)
        assert await stepper.parked() == PURGE_INTERVAL
        assert task.runs == 2
        assert await surviving(app, [old, ageing, recent]) == {recent}
    finally:
        await task.stop()
    assert not task.running


async def test_a_failed_purge_is_logged_and_retried(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    class Unreachable:
        def __call__(self) -> object:
            raise ConnectionError("database down")

    stepper = Stepper()
    task = RetentionTask(Unreachable(), 30, sleep=stepper.sleep)  # type: ignore[arg-type]
    task.start()
    try:
        for _ in range(3):
            await stepper.parked()
            stepper.wake.put_nowait(None)
        await stepper.parked()
        assert task.running and task.runs == 0
    finally:
        await task.stop()
    failures = [r for r in caplog.records if "retention purge failed" in r.getMessage()]
    assert len(failures) == 3


async def test_the_app_runs_retention_with_the_configured_days(database_url: str) -> None:
    async with running_app(database_url, request_log_retention_days=45) as app:
        retention = app.state.request_log_retention
        assert retention.running
        assert retention.retention_days == 45
    assert not retention.running
