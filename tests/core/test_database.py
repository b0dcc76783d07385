"""The SQLite driver path: statements run on the event loop's thread, and only one that finds
the database locked goes to aiosqlite's thread to wait for the lock there."""

from __future__ import annotations

import asyncio
import collections
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite.core
import pytest
from sqlalchemy import text

from botyard.core.database import create_engine, create_sessionmaker

BUSY_TIMEOUT = 0.8
"""The engine's database timeout is 1 s below; SQLite waits 80% of it for a lock."""


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> collections.Counter[str]:
    """Every job aiosqlite's thread runs, by name: a hop each."""
    counted: collections.Counter[str] = collections.Counter()
    real = aiosqlite.core.Connection._execute

    async def counting(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        counted[getattr(fn, "__name__", "job")] += 1
        return await real(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.core.Connection, "_execute", counting)
    return counted


@pytest.fixture
async def sessionmaker(tmp_path: Path) -> AsyncIterator[Any]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'hops.db'}", timeout=1.0)
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)"))
        await connection.execute(text("INSERT INTO t (name) VALUES ('a'), ('b'), ('c')"))
    yield create_sessionmaker(engine)
    await engine.dispose()


async def test_a_read_and_its_commit_make_no_hop(
    sessionmaker: Any, hops: collections.Counter[str]
) -> None:
    async with sessionmaker() as session:
        await session.execute(text("SELECT 1"))  # the connection is checked out and warm
        hops.clear()
        rows = (await session.execute(text("SELECT id, name FROM t ORDER BY id"))).all()
        assert [tuple(row) for row in rows] == [(1, "a"), (2, "b"), (3, "c")]
        await session.commit()
    assert sum(hops.values()) == 0


async def test_a_write_reports_its_rows_and_commits_without_a_hop(
    sessionmaker: Any, hops: collections.Counter[str]
) -> None:
    async with sessionmaker() as session:
        await session.execute(text("SELECT 1"))
        hops.clear()
        updated = await session.execute(text("UPDATE t SET name = 'z' WHERE id >= 2"))
        assert updated.rowcount == 2  # type: ignore[attr-defined]
        inserted = await session.execute(text("INSERT INTO t (name) VALUES ('d')"))
        assert inserted.lastrowid == 4  # type: ignore[attr-defined]
        await session.commit()
        assert sum(hops.values()) == 0
    async with sessionmaker() as session:
        names = (await session.scalars(text("SELECT name FROM t ORDER BY id"))).all()
    assert names == ["a", "z", "z", "d"]


def _hold_write_lock(path: Path, seconds: float) -> None:
    """Another connection (as another process would) holds the write lock for ``seconds``."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    time.sleep(seconds)
    other.execute("ROLLBACK")
    other.close()


async def test_a_write_that_finds_the_database_locked_waits_off_the_loop(
    sessionmaker: Any, tmp_path: Path, hops: collections.Counter[str]
) -> None:
    """The write waits in aiosqlite's thread until the lock is free, and the event loop
    keeps running meanwhile (it would stand still for the whole wait if the write blocked it)."""
    holder = asyncio.get_running_loop().run_in_executor(
        None, _hold_write_lock, tmp_path / "hops.db", 0.4
    )
    await asyncio.sleep(0.05)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.ensure_future(tick())
    started = time.monotonic()
    async with sessionmaker() as session:
        await session.execute(text("INSERT INTO t (name) VALUES ('waited')"))
        await session.commit()
    waited = time.monotonic() - started
    ticker.cancel()
    await holder
    assert 0.2 < waited < BUSY_TIMEOUT
    assert ticks >= 10, "the event loop stood still while the write waited for the lock"
    assert sum(hops.values()) >= 1  # the retry ran in the connection's thread
    async with sessionmaker() as session:
        assert (await session.scalar(text("SELECT count(*) FROM t WHERE name = 'waited'"))) == 1


async def test_a_write_locked_out_past_the_busy_timeout_fails_as_locked(
    sessionmaker: Any, tmp_path: Path
) -> None:
    """SQLite's "database is locked" is what the outage handling turns into a 503."""
    from sqlalchemy.exc import OperationalError

    holder = asyncio.get_running_loop().run_in_executor(
        None, _hold_write_lock, tmp_path / "hops.db", BUSY_TIMEOUT + 0.7
    )
    await asyncio.sleep(0.05)
    started = time.monotonic()
    async with sessionmaker() as session:
        with pytest.raises(OperationalError, match="database is locked"):
            await session.execute(text("INSERT INTO t (name) VALUES ('never')"))
    assert time.monotonic() - started < BUSY_TIMEOUT + 0.5
    await holder
    async with sessionmaker() as session:
        assert (await session.scalar(text("SELECT count(*) FROM t WHERE name = 'never'"))) == 0


async def test_reads_go_on_while_another_connection_holds_the_write_lock(
    sessionmaker: Any, tmp_path: Path
) -> None:
    holder = asyncio.get_running_loop().run_in_executor(
        None, _hold_write_lock, tmp_path / "hops.db", 0.3
    )
    await asyncio.sleep(0.05)
    started = time.monotonic()
    async with sessionmaker() as session:
        assert (await session.scalar(text("SELECT count(*) FROM t"))) == 3
    assert time.monotonic() - started < 0.1
    await holder


async def test_a_rolled_back_write_is_undone(sessionmaker: Any) -> None:
    async with sessionmaker() as session:
        await session.execute(text("DELETE FROM t"))
        await session.rollback()
        assert (await session.scalar(text("SELECT count(*) FROM t"))) == 3


async def test_a_failing_statement_raises_the_database_error(sessionmaker: Any) -> None:
    from sqlalchemy.exc import IntegrityError

    async with sessionmaker() as session:
        with pytest.raises(IntegrityError):
            await session.execute(text("INSERT INTO t (id, name) VALUES (1, 'dup')"))
