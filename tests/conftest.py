"""Fixtures shared by the whole suite: a migrated database per backend, the app, a client."""

from __future__ import annotations

import contextlib
import itertools
import logging
import random
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from botyard.core import clock
from botyard.core.config import Settings
from botyard.core.database import create_engine
from botyard.core.migrate import upgrade_async
from botyard.main import create_app
from tests.backends import create_postgres_database, drop_postgres_database


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A database migrated with Alembic, once per backend for the whole run."""
    async with migrated_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@contextlib.asynccontextmanager
async def migrated_database(backend: str, directory: Path) -> AsyncIterator[str]:
    """A new database on ``backend`` ("sqlite" in ``directory``, or "postgresql") migrated to
    head, dropped afterwards on PostgreSQL."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{directory / 'botyard.db'}"
    else:
        url = await create_postgres_database()
    engine = create_engine(url)
    async with engine.begin() as connection:
        await upgrade_async(connection, url)
    await engine.dispose()
    try:
        yield url
    finally:
        if backend == "postgresql":
            await drop_postgres_database(url)


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "redis_url": None,
        "request_log_flush_interval": 3600.0,
        "secret_key": "test-master-key-for-sealing-secrets-at-rest",
        # Webhook tests drive their own worker: one in the shared app would take their work.
        "webhook_worker": False,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
async def app(database_url: str) -> AsyncIterator[FastAPI]:
    """One app per backend; each test builds its own organization, so tests never collide."""
    application = create_app(make_settings(database_url))
    async with application.router.lifespan_context(application):
        yield application


_ADDRESSES = itertools.count(random.randrange(256 * 254))


def fresh_ip() -> str:
    """A distinct client address per client (never the same twice in a process, which has a
    database of its own), so one test's per-IP limits and log rows never touch another's."""
    n = next(_ADDRESSES) % (256 * 254)
    return f"198.18.{n // 254}.{n % 254 + 1}"


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(fresh_ip(), 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def frozen_clock() -> Iterator[clock.FrozenClock]:
    """Time stands still unless the test moves it; restores the real clock afterwards."""
    frozen = clock.FrozenClock(datetime.now(UTC).replace(microsecond=0))
    previous = clock.set_clock(frozen)
    yield frozen
    clock.set_clock(previous)


@pytest.fixture(autouse=True)
def _capture_all_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Capture every logger at DEBUG so secret-leak tests see everything that was logged."""
    caplog.set_level(logging.DEBUG)


BACKEND_FIXTURES = {"database_url": "storage", "limiter_backend": "rate limiting"}
_backend_outcomes: dict[tuple[str, str], dict[str, int]] = {}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Tag the report with its backend; the tag travels with it from an xdist worker."""
    report = yield
    callspec = getattr(item, "callspec", None)
    if callspec is not None and (report.when == "call" or report.outcome != "passed"):
        for fixture, label in BACKEND_FIXTURES.items():
            backend = callspec.params.get(fixture)
            if backend is not None:
                report.user_properties.append(("backend", f"{label}\t{backend}"))
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for name, value in report.user_properties:
        if name == "backend":
            label, backend = str(value).split("\t", 1)
            counts = _backend_outcomes.setdefault((label, backend), {})
            counts[report.outcome] = counts.get(report.outcome, 0) + 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say plainly which backends really ran, so a skipped PostgreSQL or Redis is visible."""
    if not _backend_outcomes:
        return
    terminalreporter.section("backends")
    for (label, backend), counts in sorted(_backend_outcomes.items()):
        summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
        terminalreporter.write_line(f"{label} tests on {backend}: {summary}")
