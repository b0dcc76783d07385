"""The request log through a database outage: rows kept (bounded), the drops past the bound
counted in /metrics, nothing written twice, and everything kept written once it is back."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from botyard.core.database import create_engine
from botyard.core.migrate import upgrade_async
from botyard.main import create_app
from botyard.requestlog.writer import LogEntry
from tests.conftest import make_settings
from tests.ops.test_database_outage import client_of
from tests.ops.test_metrics import SCRAPER, TOKEN, samples
from tests.test_multiprocess import free_port


def entry(i: int) -> LogEntry:
    return LogEntry(
        f"log_outage_{i:04d}",
        datetime.now(UTC),
        "GET",
        "/v1/bots",
        200,
        1.0,
        f"req_outage_{i:04d}",
        None,
        None,
    )


async def test_past_the_bound_the_oldest_rows_are_dropped_and_counted() -> None:
    app = create_app(
        make_settings(
            f"postgresql+asyncpg://u@127.0.0.1:{free_port()}/d",
            db_timeout=0.5,
            metrics_token=TOKEN,
            request_log_batch_size=1,
            request_log_shutdown_wait=0,
        )
    )
    writer = app.state.request_log
    writer.max_pending = 5
    async with client_of(app) as client:
        for i in range(12):
            writer.add(entry(i))
        with pytest.raises(OSError):  # the database is away: the rows stay pending
            await writer.flush()
        assert writer.pending == 5 and writer.dropped == 7
        assert [row[0] for row in writer._pending] == [f"log_outage_{i:04d}" for i in range(7, 12)]
        scraped = samples((await client.get("/metrics", headers=SCRAPER)).text)
    assert scraped[("botyard_request_log_rows_dropped_total", frozenset())] == 7


async def test_rows_kept_through_a_locked_database_are_written_once_it_is_free(
    tmp_path: Path,
) -> None:
    path = tmp_path / "botyard.db"
    url = f"sqlite+aiosqlite:///{path}"
    engine = create_engine(url)
    async with engine.begin() as connection:
        await upgrade_async(connection, url)
    await engine.dispose()
    app = create_app(make_settings(url, db_timeout=0.3))
    writer = app.state.request_log
    async with client_of(app):
        with closing(sqlite3.connect(path, isolation_level=None)) as other_writer:
            other_writer.execute("BEGIN IMMEDIATE")
            for i in range(20):
                writer.add(entry(i))
            for _ in range(2):
                with pytest.raises(OperationalError, match="database is locked"):
                    await writer.flush()
            assert writer.pending == 20 and writer.written == 0
            other_writer.execute("ROLLBACK")
        assert await writer.flush() == 20
    with closing(sqlite3.connect(path)) as reader:
        (count,) = reader.execute(
            "SELECT count(*) FROM request_logs WHERE id LIKE 'log_outage_%'"
        ).fetchone()
    assert count == 20
