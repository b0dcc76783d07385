"""SQLite's WAL is checkpointed in the background writers' thread, never in a commit on the
event loop, and still starts over, so it does not grow for ever."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from botyard.bots.models import Bot
from botyard.core import database
from botyard.core.database import Writer, create_sessionmaker
from tests.core.test_writer import _NEW_BOTS, _bot, _direct
from tests.factories import make_org

EVERY = 20


async def test_checkpoints_run_off_the_loop_and_the_wal_starts_over(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    direct = _direct(app)
    engine: AsyncEngine = app.state.engine
    org = await make_org(app)
    monkeypatch.setattr(database, "CHECKPOINT_EVERY", EVERY)
    threads: list[int] = []
    checkpoint = database._Checkpoints.checkpoint

    def recorded(self: database._Checkpoints) -> None:
        threads.append(threading.get_ident())
        checkpoint(self)

    monkeypatch.setattr(database._Checkpoints, "checkpoint", recorded)
    async with engine.connect() as connection:  # the pool's connections leave it to us
        assert (await connection.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar() == 0
    assert engine.url.database is not None
    wal = Path(engine.url.database + "-wal")
    sessionmaker = create_sessionmaker(engine)

    async def commits(count: int) -> None:
        for i in range(count):
            if i % 2:
                writer = Writer(engine, direct)  # the app's own connection
                await _NEW_BOTS.insert(writer, _bot(org.id, f"Own {i}"))
                await writer.commit()
            else:
                async with sessionmaker() as session:  # a pooled connection
                    session.add(Bot(organization_id=org.id, name=f"Pooled {i}"))
                    await session.commit()
            await asyncio.sleep(0)  # as between requests: the checkpoint gets its turn

    await commits(2 * EVERY)
    own = direct.own._connection
    assert own is not None and own.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
    early = wal.stat().st_size  # noqa: ASYNC240 (a test's one stat)
    await commits(8 * EVERY)
    await asyncio.sleep(0.2)
    assert threads and threading.get_ident() not in threads
    # Without a restart the file would have grown about fivefold by now.
    assert wal.stat().st_size < 1.5 * early  # noqa: ASYNC240
    async with engine.connect() as connection:
        found = await connection.execute(
            text("SELECT count(*) FROM bots WHERE organization_id = :org"), {"org": org.id}
        )
        assert found.scalar() == 10 * EVERY


async def test_a_checkpoint_holding_the_turn_never_waits_behind_the_request_log(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The background writers' thread may be busy for seconds (a request-log backlog after
    an outage). A checkpoint queued behind it would hold the writers' turn all that time,
    and every request that writes would wait."""
    direct = _direct(app)
    engine: AsyncEngine = app.state.engine
    org = await make_org(app)
    monkeypatch.setattr(database, "CHECKPOINT_EVERY", 1)
    busy = threading.Event()
    loop = asyncio.get_running_loop()
    backlog = loop.run_in_executor(database._write_executor, busy.wait, 5)
    try:
        first = Writer(engine, direct)
        await _NEW_BOTS.insert(first, _bot(org.id, "Starts a checkpoint"))
        await first.commit()
        await asyncio.sleep(0)  # the checkpoint takes the turn
        second = Writer(engine, direct)
        await _NEW_BOTS.insert(second, _bot(org.id, "Not held up"))
        await asyncio.wait_for(second.commit(), timeout=2)
    finally:
        busy.set()
        await backlog
