"""The read path of requests that change nothing: plain rows, no transaction, a pool that
holds the connections a burst of concurrent reads needs instead of making new ones."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import bindparam, event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from botyard.bots.models import Bot
from botyard.bots.service import BOT_LIST
from botyard.core.database import (
    Reader,
    compiled_read,
    create_engine,
    create_sessionmaker,
    read_rows,
)
from botyard.organizations.models import Organization
from tests.factories import make_bot, make_org


async def test_a_reader_reads_what_a_session_reads_without_a_transaction(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    in_transaction: list[bool] = []

    def record(_connection: Any, cursor: Any, *_: Any) -> None:
        adapted = getattr(cursor, "_adapt_connection", None)  # the Reader's own: sqlite3's
        driver = adapted.driver_connection if adapted is not None else cursor.connection
        if hasattr(driver, "is_in_transaction"):  # asyncpg: is a transaction open after the SELECT?
            in_transaction.append(driver.is_in_transaction())
        else:  # sqlite3 opens a transaction only to write
            in_transaction.append(driver.in_transaction)

    event.listen(engine.sync_engine, "after_cursor_execute", record)
    statement = select(Organization.id, Organization.name).order_by(Organization.id).limit(5)
    try:
        async with create_sessionmaker(engine)() as session:
            in_session = await read_rows(session, statement, {})
        assert in_transaction[-1] is (engine.dialect.name == "postgresql")
        in_transaction.clear()
        by_reader = await read_rows(Reader(engine), statement, {})
        assert [tuple(row) for row in by_reader] == [tuple(row) for row in in_session]
        assert in_transaction == [False]
    finally:
        await engine.dispose()


async def test_concurrent_reads_reuse_pooled_connections(database_url: str) -> None:
    """A pool smaller than the burst made and dropped a connection (on SQLite a thread) on
    most requests under 32 concurrent clients; bursts as large as the pool make none."""
    engine = create_engine(database_url)
    connects: list[Any] = []
    event.listen(engine.sync_engine, "connect", lambda *_: connects.append(1))
    reader = Reader(engine)
    statement = select(Organization.id).limit(1)
    burst = engine.pool.size()  # type: ignore[attr-defined]
    assert burst >= 20
    try:
        await asyncio.gather(*(read_rows(reader, statement, {}) for _ in range(burst)))
        warmed = len(connects)
        for _ in range(5):
            await asyncio.gather(*(read_rows(reader, statement, {}) for _ in range(burst)))
        assert len(connects) == warmed
    finally:
        await engine.dispose()


async def test_acompiled_read_gives_the_rows_and_types_connection_gives(app: FastAPI) -> None:
    """Times (aware UTC), booleans, floats, NULLs and a cursor's bound time: the fast path
    converts every column and parameter as SQLAlchemy's own execution does."""
    org = await make_org(app)
    first = await make_bot(app, org, name="First", identity_verification=True)
    await make_bot(app, org, name="Second", answer_threshold=0.25, description="")
    page = BOT_LIST.statement(frozenset({"organization_id"}), True)
    params = {
        "organization_id": org.id,
        "page_size": 5,
        "after_time": datetime(9000, 1, 1, tzinfo=UTC),
        "after_id": "bot_z",
    }
    engine: AsyncEngine = app.state.engine
    assert compiled_read(page, engine.dialect) is not None
    fast = await read_rows(Reader(engine), page, params)
    async with engine.connect() as connection:
        slow = (await connection.execute(page, params)).all()
    assert [row._asdict() for row in fast] == [row._asdict() for row in slow]
    assert [row.name for row in fast] == ["Second", "First"]
    assert fast[1].identity_verification is True and fast[0].answer_threshold == 0.25
    assert fast[1].created_at == first.created_at and fast[1].created_at.tzinfo is UTC
    assert fast[0].identity_secret_sealed is None


async def test_reads_the_fast_path_cannot_run_go_through_connection(app: FastAPI) -> None:
    """An IN list is rendered per execution, so it is read the ordinary way, with the same rows."""
    org = await make_org(app)
    bots = [await make_bot(app, org) for _ in range(3)]
    statement = select(Bot.id).where(Bot.id.in_(bindparam("ids", expanding=True)))
    engine: AsyncEngine = app.state.engine
    assert compiled_read(statement, engine.dialect) is None
    rows = await read_rows(Reader(engine), statement, {"ids": [b.id for b in bots[:2]]})
    assert sorted(row.id for row in rows) == sorted(b.id for b in bots[:2])


def _sqlite_only(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the Reader's own connection is SQLite's")


async def test_sqlite_reads_skip_the_pool_and_see_each_commit(database_url: str) -> None:
    _sqlite_only(database_url)
    engine = create_engine(database_url)
    checkouts: list[Any] = []
    event.listen(engine.sync_engine, "checkout", lambda *_: checkouts.append(1))
    reader = Reader(engine)
    statement = select(Organization.id).where(Organization.name == bindparam("name"))
    name = f"Direct {uuid.uuid4().hex}"
    try:
        assert await read_rows(reader, statement, {"name": name}) == []
        async with create_sessionmaker(engine)() as session:
            session.add(Organization(name=name))
            await session.commit()
        checkouts.clear()
        rows = await read_rows(reader, statement, {"name": name})
        assert len(rows) == 1
        assert checkouts == []
    finally:
        await reader.close()
        await engine.dispose()


class _LockedOut:
    """A connection whose every statement finds the database locked (SQLITE_BUSY)."""

    def cursor(self) -> _LockedOut:
        return self

    def execute(self, *_: Any) -> None:
        error = sqlite3.OperationalError("database is locked")
        error.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
        raise error

    def close(self) -> None:
        pass


async def test_a_sqlite_read_that_finds_the_database_locked_goes_through_the_pool(
    database_url: str,
) -> None:
    """WAL readers all but never wait; one that does (another process holding the file) is
    read by the pool, whose connections wait for the lock off the loop, not refused."""
    _sqlite_only(database_url)
    engine = create_engine(database_url)
    checkouts: list[Any] = []
    event.listen(engine.sync_engine, "checkout", lambda *_: checkouts.append(1))
    reader = Reader(engine)
    statement = select(Organization.id).order_by(Organization.id).limit(3)
    try:
        direct = await read_rows(reader, statement, {})
        assert reader.direct is not None and checkouts == []
        reader.direct._connection = _LockedOut()  # type: ignore[assignment]
        pooled = await read_rows(reader, statement, {})
        assert [tuple(r) for r in pooled] == [tuple(r) for r in direct]
        assert checkouts == [1]
    finally:
        await engine.dispose()


async def test_the_app_closes_the_readers_connection_on_shutdown(database_url: str) -> None:
    _sqlite_only(database_url)
    from botyard.main import create_app
    from tests.conftest import make_settings

    app = create_app(make_settings(database_url))
    async with app.router.lifespan_context(app):
        await read_rows(app.state.reader, select(Organization.id).limit(1), {})
        assert app.state.reader.direct._connection is not None
    assert app.state.reader.direct._connection is None
