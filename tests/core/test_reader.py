"""The read path of requests that change nothing: plain rows, no transaction, a pool that
holds the connections a burst of concurrent reads needs instead of making new ones."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event, select

from botyard.core.database import Reader, create_engine, create_sessionmaker, read_rows
from botyard.organizations.models import Organization


async def test_a_reader_reads_what_a_session_reads_without_a_transaction(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    in_transaction: list[bool] = []

    def record(connection: Any, *_: Any) -> None:
        driver = connection.connection.driver_connection
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
