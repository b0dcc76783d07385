"""The read path of requests that change nothing: plain rows, no transaction, a pool that
holds the connections a burst of concurrent reads needs instead of making new ones."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

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
        driver = cursor._adapt_connection.driver_connection
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
