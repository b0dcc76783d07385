"""Apply Alembic migrations from code, so `botyard serve`, the CLI and tests share one path.

Every upgrade runs under a lock (see :func:`migration_lock`), so any number of processes may
start at once on a fresh or an old database: the first migrates, the others wait and then find
nothing left to do.
"""

import asyncio
import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

MIGRATION_LOCK_ID = 0x626F7479617264
"""The PostgreSQL advisory lock key of migrations ("botyard" in hex): one per database."""

MIGRATION_LOCK_WAIT = 300.0
"""Seconds a process waits for another's migration before giving up."""

_LOCK_POLL = 0.05


class MigrationLockTimeout(RuntimeError):
    """Another process held the migration lock for longer than MIGRATION_LOCK_WAIT."""


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url)
    return config


def sqlite_lock_path(database: str) -> Path:
    """The lock file beside a SQLite database file."""
    return Path(database + ".migrate.lock")


@contextmanager
def migration_lock(connection: Connection) -> Iterator[None]:
    """Hold the database's migration lock while the body runs.

    PostgreSQL: a transaction-scoped advisory lock, so the commit that ends the upgrade (or
    the connection's end, should the process die) releases it. It is polled with
    ``pg_try_advisory_xact_lock`` rather than waited for in one statement, which the
    database timeout would cut short while another process migrates. SQLite: an exclusive
    ``flock`` on a file beside the database, released when the process lets go of it.
    """
    deadline = time.monotonic() + MIGRATION_LOCK_WAIT
    if connection.dialect.name == "postgresql":
        try_lock = text("SELECT pg_try_advisory_xact_lock(:key)")
        while not connection.execute(try_lock, {"key": MIGRATION_LOCK_ID}).scalar():
            if time.monotonic() > deadline:
                raise MigrationLockTimeout("another process is still migrating the database")
            time.sleep(_LOCK_POLL)
        yield
        return
    database = connection.engine.url.database
    if connection.dialect.name != "sqlite" or not database:
        yield
        return
    with sqlite_lock_path(database).open("a") as lock_file:
        while True:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise MigrationLockTimeout(
                        "another process is still migrating the database"
                    ) from None
                time.sleep(_LOCK_POLL)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def upgrade(database_url: str, revision: str = "head", *, timeout: float | None = None) -> None:
    """Blocking upgrade; call from synchronous code (CLI) only. ``timeout`` bounds each wait
    on the database (see ``create_engine``), so an unreachable one fails instead of hanging."""
    config = alembic_config(database_url)
    if timeout is not None:
        config.attributes["db_timeout"] = timeout
    command.upgrade(config, revision)


async def upgrade_async(connection: AsyncConnection, database_url: str) -> None:
    """Upgrade on an already-open async connection (tests, app start-up inside a loop)."""

    def _upgrade(sync_connection: object) -> None:
        config = alembic_config(database_url)
        config.attributes["connection"] = sync_connection
        command.upgrade(config, "head")

    await connection.run_sync(_upgrade)


async def upgrade_in_thread(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url)


def current_revision(database_url: str) -> str | None:
    """The revision a database is at, or None for one Alembic has never touched."""
    from sqlalchemy.ext.asyncio import create_async_engine

    async def read() -> str | None:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(
                    lambda sync: MigrationContext.configure(sync).get_current_revision()
                )
        finally:
            await engine.dispose()

    return asyncio.run(read())
