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


async def test_concurrent_writers_take_turns_on_the_loop_in_the_order_they_came(
    sessionmaker: Any, hops: collections.Counter[str]
) -> None:
    """Each writer holds its transaction across awaits, as a request does; the others wait
    for their turn on the loop instead of racing for SQLite's lock (none is told busy and
    re-run in aiosqlite's thread), none fails, none is lost, and they commit in order."""
    async with sessionmaker() as session:
        await session.execute(text("CREATE TABLE log (n INTEGER NOT NULL)"))
        await session.commit()
    hops.clear()

    asked: list[int] = []

    async def write(n: int) -> None:
        async with sessionmaker() as session:
            await session.execute(text("SELECT 1"))  # the connection, made in its thread
            asked.append(n)
            await session.execute(text("INSERT INTO log (n) VALUES (:n)"), {"n": n})
            for _ in range(3):
                await asyncio.sleep(0)
            await session.commit()

    await asyncio.gather(*(write(n) for n in range(40)))
    assert hops["_waiting"] == 0
    async with sessionmaker() as session:
        written = (await session.scalars(text("SELECT n FROM log ORDER BY rowid"))).all()
    assert written == asked
    assert sorted(written) == list(range(40))


async def test_a_cancelled_writer_gives_its_turn_back(sessionmaker: Any) -> None:
    """A request cancelled (its client went away) while holding the turn, or while waiting
    for it, does not keep the writers behind it waiting."""
    holding = asyncio.Event()

    async def hold() -> None:
        async with sessionmaker() as session:
            await session.execute(text("INSERT INTO t (name) VALUES ('cancelled')"))
            holding.set()
            await asyncio.sleep(30)

    async def write(name: str) -> None:
        async with sessionmaker() as session:
            await session.execute(text("INSERT INTO t (name) VALUES (:name)"), {"name": name})
            await session.commit()

    holder = asyncio.ensure_future(hold())
    await holding.wait()
    waiter = asyncio.ensure_future(write("cancelled too"))
    writer = asyncio.ensure_future(write("written"))
    await asyncio.sleep(0.05)
    assert not writer.done()
    started = time.monotonic()
    waiter.cancel()
    holder.cancel()
    await writer
    assert time.monotonic() - started < 0.2
    for task in (holder, waiter):
        with pytest.raises(asyncio.CancelledError):
            await task
    async with sessionmaker() as session:
        names = (await session.scalars(text("SELECT name FROM t WHERE id > 3"))).all()
    assert names == ["written"]


async def test_a_failed_write_gives_the_turn_back_when_rolled_back(sessionmaker: Any) -> None:
    from sqlalchemy.exc import IntegrityError

    async def write(name: str) -> None:
        async with sessionmaker() as session:
            await session.execute(text("INSERT INTO t (name) VALUES (:name)"), {"name": name})
            await session.commit()

    async with sessionmaker() as session:
        with pytest.raises(IntegrityError):
            await session.execute(text("INSERT INTO t (id, name) VALUES (1, 'dup')"))
        await session.rollback()
        started = time.monotonic()
        await write("after")
        assert time.monotonic() - started < 0.1


async def test_a_second_writing_connection_in_one_task_fails_as_locked_not_for_ever(
    sessionmaker: Any,
) -> None:
    """A task that writes on two connections at once waits for itself: after about the busy
    timeout the second write fails as locked (a 503), as it did before writers took turns."""
    from sqlalchemy.exc import OperationalError

    async with sessionmaker() as first:
        await first.execute(text("INSERT INTO t (name) VALUES ('first')"))
        started = time.monotonic()
        async with sessionmaker() as second:
            with pytest.raises(OperationalError, match="database is locked"):
                await second.execute(text("INSERT INTO t (name) VALUES ('second')"))
        assert BUSY_TIMEOUT - 0.1 < time.monotonic() - started < BUSY_TIMEOUT + 0.5
        await first.commit()
    async with sessionmaker() as session:
        names = (await session.scalars(text("SELECT name FROM t WHERE id > 3"))).all()
    assert names == ["first"]
