"""The SQLite driver path: one hop to aiosqlite's thread per statement, none for a no-op commit."""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite.core
import pytest
from sqlalchemy import text

from botyard.core.database import create_engine, create_sessionmaker


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
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'hops.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)"))
        await connection.execute(text("INSERT INTO t (name) VALUES ('a'), ('b'), ('c')"))
    yield create_sessionmaker(engine)
    await engine.dispose()


async def test_a_read_is_one_hop_and_its_commit_none(
    sessionmaker: Any, hops: collections.Counter[str]
) -> None:
    async with sessionmaker() as session:
        await session.execute(text("SELECT 1"))  # the connection is checked out and warm
        hops.clear()
        rows = (await session.execute(text("SELECT id, name FROM t ORDER BY id"))).all()
        assert [tuple(row) for row in rows] == [(1, "a"), (2, "b"), (3, "c")]
        assert sum(hops.values()) == 1
        await session.commit()
    assert sum(hops.values()) == 1


async def test_a_write_reports_its_rows_and_commits_in_one_more_hop(
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
        assert hops == {"<lambda>": 2, "commit": 1}
    async with sessionmaker() as session:
        names = (await session.scalars(text("SELECT name FROM t ORDER BY id"))).all()
    assert names == ["a", "z", "z", "d"]


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
