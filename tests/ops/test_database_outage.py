"""A database that is down, hung or locked: 503 with Retry-After within the timeout, one log
line per outage (not a traceback per request), recovery by itself; and a start-up that
cannot reach the database is one line and exit 2.

These need no private server: a closed port is a stopped PostgreSQL, a socket that accepts
and never answers is a frozen one, and a SQLite write lock held elsewhere is a busy file.
The destructive tests on a real PostgreSQL are in test_faults.py.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from botyard.api_keys import keyformat
from botyard.core.database import create_engine
from botyard.core.migrate import upgrade_async
from botyard.main import create_app
from botyard.ratelimit.limiter import MemoryLimiter
from tests.cli.runner import Botyard, botyard_executable
from tests.conftest import fresh_ip, make_settings
from tests.factories import auth, make_key, make_org
from tests.test_multiprocess import free_port

TIMEOUT = 0.5
SLACK = 1.5
"""How far past BOTYARD_DB_TIMEOUT an answer may come: a stale pooled connection can cost a
failed ping and a connect, each bounded by the timeout, and the CI machine is slow."""


@asynccontextmanager
async def client_of(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(fresh_ip(), 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


@asynccontextmanager
async def black_hole() -> AsyncIterator[int]:
    """A port that accepts connections and never says a word: a frozen database server."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        for writer in held:
            writer.close()
        server.close()


def outage_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "botyard.database"]


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    error = response.json()["error"]
    assert error["code"] == "service_unavailable"
    assert "temporarily unavailable" in error["message"]
    assert error["request_id"] == response.headers["x-request-id"]


async def test_a_stopped_database_is_503_with_retry_after_and_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    url = f"postgresql+asyncpg://botyard:s3cret@127.0.0.1:{port}/botyard"
    app = create_app(make_settings(url, db_timeout=TIMEOUT, request_log_shutdown_wait=0))
    async with client_of(app) as client:
        for _ in range(5):
            assert_unavailable(await client.get("/v1/me", headers=auth(keyformat.generate())))
    lines = outage_lines(caplog)
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert "database unavailable" in lines[0].getMessage() and "s3cret" not in lines[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert app.state.db_outage.active and app.state.db_outage.refused == 5
    lost = [r.getMessage() for r in caplog.records if "before shutdown" in r.getMessage()]
    assert lost == [
        "request log: 5 rows could not be written before shutdown and are lost "
        f"(ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', {port}))"
    ]


async def test_a_hung_database_answers_within_the_timeout() -> None:
    async with black_hole() as port:
        url = f"postgresql+asyncpg://botyard@127.0.0.1:{port}/botyard"
        app = create_app(make_settings(url, db_timeout=TIMEOUT, request_log_shutdown_wait=0))
        async with client_of(app) as client:
            started = time.monotonic()
            responses = await asyncio.gather(
                *(client.get("/v1/me", headers=auth(keyformat.generate())) for _ in range(3))
            )
            elapsed = time.monotonic() - started
    for response in responses:
        assert_unavailable(response)
    assert elapsed < TIMEOUT + SLACK, f"answered after {elapsed:.2f} s"


async def test_a_locked_sqlite_database_is_503_then_recovers_by_itself(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "botyard.db"
    database_url = f"sqlite+aiosqlite:///{path}"
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await upgrade_async(connection, database_url)
    await engine.dispose()
    app = create_app(make_settings(database_url, db_timeout=TIMEOUT))
    org = await make_org(app)
    _, key = await make_key(app, org, ["write"])
    async with client_of(app) as client:
        with closing(sqlite3.connect(path, isolation_level=None)) as other_writer:
            other_writer.execute("BEGIN IMMEDIATE")  # holds the write lock
            started = time.monotonic()
            refused = await client.post("/v1/bots", headers=auth(key), json={"name": "Locked"})
            assert time.monotonic() - started < TIMEOUT + SLACK
            assert_unavailable(refused)
            other_writer.execute("ROLLBACK")
        created = await client.post("/v1/bots", headers=auth(key), json={"name": "Unlocked"})
        assert created.status_code == 201, created.text
    messages = [r.getMessage() for r in outage_lines(caplog)]
    assert len(messages) == 2, messages
    assert "available again" in messages[1] and "1 requests were answered 503" in messages[1]
    assert not app.state.db_outage.active


@pytest.mark.slow
@pytest.mark.parametrize("frozen", [False, True], ids=["stopped", "frozen"])
async def test_start_up_with_the_database_unreachable_is_one_line_and_exit_2(
    frozen: bool, tmp_path: Path
) -> None:
    async with black_hole() as hole:
        port = hole if frozen else free_port()
        cli = Botyard(f"postgresql+asyncpg://botyard:s3cret@127.0.0.1:{port}/botyard", tmp_path)
        cli_env = {**cli.env, "BOTYARD_DB_TIMEOUT": "1"}
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            botyard_executable(),
            "serve",
            "--port",
            str(free_port()),
            env=cli_env,
            cwd=str(tmp_path),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
        elapsed = time.monotonic() - started
    assert process.returncode == 2
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert f"127.0.0.1:{port}/botyard" in lines[0] and "***" in lines[0]
    assert "s3cret" not in lines[0] + stdout.decode()
    assert elapsed < 30


class ClosingLimiter(MemoryLimiter):
    closed = False

    async def close(self) -> None:
        self.closed = True
        await super().close()


async def test_shutdown_closes_the_limiter_and_the_engine_even_when_a_step_fails(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    limiter = ClosingLimiter()
    app = create_app(make_settings(database_url), limiter=limiter)

    async def failing_stop(*_: object) -> None:
        raise RuntimeError("the request log could not stop")

    app.state.request_log.stop = failing_stop
    async with app.router.lifespan_context(app):
        async with app.state.engine.connect():
            pass  # leaves one pooled connection, which disposing the engine closes
        assert app.state.engine.sync_engine.pool.checkedin() == 1
    assert limiter.closed
    assert app.state.engine.sync_engine.pool.checkedin() == 0, "the engine was not disposed"
    assert any(
        "closing the request log failed (RuntimeError: the request log could not stop)"
        in r.getMessage()
        for r in caplog.records
    )
