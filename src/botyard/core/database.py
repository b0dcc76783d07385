"""Async SQLAlchemy engine, sessions and column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import JSON, DateTime, Engine, Executable, MetaData, Row, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always hands back an aware UTC datetime (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An engine tuned per backend: WAL and a busy timeout on SQLite, a pool on PostgreSQL."""
    if is_sqlite(url):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, **kwargs)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request owns the transaction: services flush, this commits once the endpoint succeeded."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


DBSession = Annotated[AsyncSession, Depends(get_session, scope="function")]

_sqlite_readers: dict[str, Engine] = {}
_read_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="botyard-sqlite-read")


def _sqlite_reader(engine: AsyncEngine) -> Engine:
    """A plain pysqlite engine on the same file, made once per database."""
    url = engine.url.set(drivername="sqlite")
    key = url.render_as_string(hide_password=False)
    reader = _sqlite_readers.get(key)
    if reader is None:
        reader = _sqlite_readers[key] = create_sync_engine(url, connect_args={"timeout": 30})
    return reader


async def fetch_first(
    engine: AsyncEngine, statement: Executable, params: dict[str, Any]
) -> Row[Any] | None:
    """The first row of a small read, for hot paths that run outside any session.

    On SQLite it runs on a plain pysqlite engine in a worker thread: one thread hop instead
    of the several aiosqlite makes per query (a key-cache miss: about 100 µs instead of 400).
    """
    if not is_sqlite(str(engine.url)):
        async with engine.connect() as connection:
            return (await connection.execute(statement, params)).first()
    reader = _sqlite_reader(engine)

    def read() -> Row[Any] | None:
        with reader.connect() as connection:
            return connection.execute(statement, params).first()

    return await asyncio.get_running_loop().run_in_executor(_read_executor, read)


def after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the session's transaction commits (dropped on rollback).

    Used to evict in-process caches only when the change is visible to everyone.
    """
    session.sync_session.info.setdefault("after_commit", []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit(sync_session: Session) -> None:
    for callback in sync_session.info.pop("after_commit", []):
        callback()


@event.listens_for(Session, "after_rollback")
def _drop_after_commit(sync_session: Session) -> None:
    sync_session.info.pop("after_commit", None)
