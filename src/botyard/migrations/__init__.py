"""Alembic migrations, applied by ``botyard serve`` and ``botyard db upgrade``."""
