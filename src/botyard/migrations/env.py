"""Alembic environment: runs migrations on the async engine of the configured database."""

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from botyard.core.database import DEFAULT_DB_TIMEOUT, create_engine
from botyard.core.migrate import migration_lock
from botyard.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction(), migration_lock(connection):
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_engine(
        url, timeout=context.config.attributes.get("db_timeout", DEFAULT_DB_TIMEOUT)
    )
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    asyncio.run(_run_async(context.config.get_main_option("sqlalchemy.url") or ""))


if context.is_offline_mode():
    raise SystemExit("Offline migrations are not supported; run `botyard db upgrade`.")
run_migrations_online()
