"""Apply Alembic migrations from code, so `botyard serve`, the CLI and tests share one path."""

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncConnection

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url)
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Blocking upgrade; call from synchronous code (CLI) only."""
    command.upgrade(alembic_config(database_url), revision)


async def upgrade_async(connection: AsyncConnection, database_url: str) -> None:
    """Upgrade on an already-open async connection (tests, app start-up inside a loop)."""

    def _upgrade(sync_connection: object) -> None:
        config = alembic_config(database_url)
        config.attributes["connection"] = sync_connection
        command.upgrade(config, "head")

    await connection.run_sync(_upgrade)


async def upgrade_in_thread(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url)
