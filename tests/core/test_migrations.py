"""The migrations create exactly the schema the models describe, on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi import FastAPI

from botyard.models import Base


async def test_models_and_migrations_agree(app: FastAPI) -> None:
    def diff(sync_connection: object) -> list[object]:
        context = MigrationContext.configure(
            sync_connection,  # type: ignore[arg-type]
            opts={"compare_type": False, "target_metadata": Base.metadata},
        )
        return list(compare_metadata(context, Base.metadata))

    async with app.state.engine.connect() as connection:
        differences = await connection.run_sync(diff)
    assert differences == [], f"write a migration for: {differences}"
