"""Which databases and Redis the suite runs against, and how it says what it skipped.

SQLite always runs. PostgreSQL and Redis run when reachable; under ``CI=true`` they are
mandatory and an unreachable one fails the run instead of skipping.
"""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

ON_CI = os.environ.get("CI") == "true"
POSTGRES_ADMIN_URL = os.environ.get(
    "BOTYARD_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("BOTYARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def unavailable(what: str, reason: str) -> None:
    """Skip with a reason a reader can act on, or fail when CI promises the service."""
    message = f"{what} not reachable ({reason})"
    if ON_CI:
        pytest.fail(f"{message}; CI=true requires it", pytrace=False)
    pytest.skip(f"{message}; start it to run these tests")


async def create_postgres_database() -> str:
    """A fresh database for this run; returns its URL."""
    import asyncpg

    dsn = POSTGRES_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://")
    name = f"botyard_test_{uuid.uuid4().hex[:12]}"
    try:
        connection = await asyncio.wait_for(asyncpg.connect(dsn), timeout=5)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        unavailable("PostgreSQL at " + dsn.rsplit("@", 1)[-1], str(exc) or type(exc).__name__)
        raise
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


async def drop_postgres_database(url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[-1]
    dsn = POSTGRES_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()
