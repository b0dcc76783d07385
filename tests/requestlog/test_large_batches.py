"""A batch far larger than one INSERT statement is written whole and exactly as given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.dialects import sqlite

from botyard.core.ids import new_time_ordered_id
from botyard.requestlog.models import RequestLog
from botyard.requestlog.writer import ROWS_PER_STATEMENT, LogEntry, _RowInsert

ROWS = 2 * ROWS_PER_STATEMENT + 276
START = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def entries() -> list[LogEntry]:
    made = []
    for i in range(ROWS):
        request_id = new_time_ordered_id("req")
        made.append(
            LogEntry(
                id="log_" + request_id.removeprefix("req_"),
                created_at=START + timedelta(milliseconds=7 * i, microseconds=i % 3),
                method=("GET", "POST", "DELETE")[i % 3],
                route=f"/v1/bots/{{bot_id}}#{i}",
                status=(200, 404, 429)[i % 3],
                latency_ms=i / 8,
                request_id=request_id,
                ip=None if i % 5 == 0 else f"203.0.113.{i % 250}",
                user_agent=None if i % 7 == 0 else f"agent {i}",
                error_code=None if i % 3 == 0 else "not_found",
            )
        )
    return made


def test_sqlite_batches_use_few_distinct_multirow_statements() -> None:
    statements = list(_RowInsert(sqlite.dialect()).statements(entries()))
    rows = [sql.count("(?") for sql, _ in statements]
    assert rows == [512, 512, 256, 16, 4]
    assert all(len(params) == 12 * n for (_, params), n in zip(statements, rows, strict=True))


async def test_every_row_of_a_large_batch_reads_back_identically(app: FastAPI) -> None:
    batch = entries()
    writer = app.state.request_log
    for item in batch:
        writer.add(item)
    await writer.flush()
    async with app.state.sessionmaker() as session:
        stored = {
            row.id: row
            for row in await session.scalars(
                select(RequestLog).where(RequestLog.id.in_([e.id for e in batch]))
            )
        }
    assert len(stored) == ROWS
    for item in batch:
        row = stored[item.id]
        assert (row.created_at, row.method, row.route, row.status, row.latency_ms) == (
            item.created_at,
            item.method,
            item.route,
            item.status,
            item.latency_ms,
        )
        assert (row.ip, row.user_agent, row.error_code, row.request_id) == (
            item.ip,
            item.user_agent,
            item.error_code,
            item.request_id,
        )


async def test_latency_is_kept_to_the_microsecond(app: FastAPI) -> None:
    """The middleware hands over the raw elapsed milliseconds; the writer rounds them."""
    made = entries()[:3]
    raw = [0.0004999, 2.71828182, 1234.5678901]
    batch = [entry._replace(latency_ms=ms) for entry, ms in zip(made, raw, strict=True)]
    writer = app.state.request_log
    for item in batch:
        writer.add(item)
    await writer.flush()
    async with app.state.sessionmaker() as session:
        rows = await session.execute(
            select(RequestLog.id, RequestLog.latency_ms).where(
                RequestLog.id.in_([e.id for e in batch])
            )
        )
        stored = {row.id: row.latency_ms for row in rows}
    assert [stored[e.id] for e in batch] == [0.0, 2.718, 1234.568]
