"""Async SQLAlchemy engine, sessions and column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import collections
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar, cast

from fastapi import Depends, Request
from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    CursorResult,
    DateTime,
    Delete,
    Engine,
    Executable,
    Insert,
    MetaData,
    Row,
    Select,
    Update,
    event,
    update,
)
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import EMPTY_DICT, await_only, greenlet_spawn

from botyard.core.rows import core_connection

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


_T = TypeVar("_T")
_log = logging.getLogger(__name__)


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

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Any] | None:
        """On SQLite, the stored text read as UTC in one parse: SQLAlchemy's parse followed by
        ``process_result_value`` took ten times as long (3.3 µs against 0.3 per value), for
        every time of every row read. Text in another form takes the general path."""
        general = super().result_processor(dialect, coltype)
        if dialect.name != "sqlite" or general is None:
            return general

        def parse(value: Any) -> datetime | None:
            if value is None:
                return None
            try:
                return _from_iso(value + "+00:00")
            except (TypeError, ValueError):
                return cast(datetime | None, general(value))

        return parse


_from_iso = datetime.fromisoformat


JSONType = JSON().with_variant(JSONB(), "postgresql")


SQLITE_POOL_SIZE = 32
"""Connections a pool keeps: as many as requests commonly overlap. A connection past the
pool is closed when it is returned, so a pool of 5 made and dropped one (a thread on SQLite)
on most requests under 32 concurrent clients. SQLite's cost a file handle and a thread."""
POSTGRES_POOL_SIZE = 32
POSTGRES_OVERFLOW = 8
"""At most 40 PostgreSQL connections per process (mind ``max_connections``, 100 by default,
with ``--workers``), of which 32 are kept, as on SQLite: with 20 kept, 32 clients chatting
made and dropped a connection (a TLS attempt, a startup) every few requests."""


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


DEFAULT_DB_TIMEOUT = 5.0
"""Seconds a connect, a pool checkout or a statement may take (``BOTYARD_DB_TIMEOUT``)."""


def sqlite_busy_timeout(timeout: float) -> float:
    """SQLite waits for a lock a little less than the database timeout, so a request held up
    by a long write still fails (503) before the timeout a client was promised."""
    return max(0.05, timeout * 0.8)


def _sqlite_pragmas(busy_ms: int, *, autocheckpoint: bool = True) -> Callable[[Any, Any], None]:
    def set_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms:d}")
        if not autocheckpoint:
            cursor.execute("PRAGMA wal_autocheckpoint=0")  # see _Checkpoints
        cursor.close()

    return set_pragmas


def _run_statement(
    connection: sqlite3.Connection, operation: str, parameters: Any, many: bool
) -> tuple[list[Any], Any, int, int | None]:
    """One statement, start to finish: rows and what SQLAlchemy reads of the cursor
    (description, rowcount, lastrowid)."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        else:
            cursor.execute(operation, () if parameters is None else parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return rows, description, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


_SQLITE_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", None) in _SQLITE_BUSY_CODES or (
        "database is locked" in str(exc)
    )


class _WriteTurns:
    """One engine's writers take turns in process for SQLite's write lock, in the order they
    asked, each woken the moment the one before it ends its transaction.

    SQLite lets one connection write at a time. A writer that races for the lock and loses is
    told "busy", is re-run in aiosqlite's thread and waits there in SQLite's busy handler,
    which polls with growing sleeps (up to 100 ms): under concurrent requests, writes queued
    that way, each with a thread hop, and late. Queued here, a writer waits on the event loop
    for a turn and then finds the lock free. Writers of another process (``--workers``, the
    CLI) and of another engine (the background writers' own) still meet the file's lock, and
    the busy path, as before.
    """

    __slots__ = ("_queue", "holder", "patience")

    def __init__(self, patience: float) -> None:
        self.patience = patience  # seconds a writer waits for its turn (the busy timeout)
        self.holder: _Inline | _Turn | None = None
        self._queue: collections.deque[tuple[_Inline | _Turn, asyncio.Future[None]]] = (
            collections.deque()
        )

    async def take(self, inline: _Inline | _Turn) -> bool:
        """Wait for ``inline``'s turn: False if it did not come within ``patience``."""
        if self.holder is None:
            self.holder = inline
            return True
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((inline, turn))
        try:
            async with asyncio.timeout(self.patience):
                await turn
        except TimeoutError:
            return self.holder is inline  # handed over as the time ran out
        except BaseException:
            self.give_back(inline)  # cancelled, perhaps just after it was handed over
            raise
        return True

    def give_back(self, inline: _Inline | _Turn) -> None:
        """``inline``'s transaction is over: the next writer still waiting goes on."""
        if self.holder is not inline:
            return
        self.holder = None
        while self._queue:
            waiting, turn = self._queue.popleft()
            if not turn.done():  # not given up (timed out or cancelled)
                self.holder = waiting
                turn.set_result(None)
                return


CHECKPOINT_EVERY = 100
"""Commits on the event loop between two WAL checkpoints: at the 8 to 10 pages a chat
message writes, about SQLite's own threshold of 1,000 pages."""


class _Checkpoints:
    """WAL checkpoints of one database file, in a thread, between two in-process writers,
    never on the event loop.

    SQLite checkpoints the WAL in the commit that takes it past 1,000 pages: it copies them
    into the database file and syncs it, several milliseconds once every hundred or so
    commits. For the connections that commit on the event loop (the pool's, the app's own)
    that stalled every request in flight: the mean commit of a chat message took 165 µs,
    the median 69. Those connections have auto-checkpoints off; every
    :data:`CHECKPOINT_EVERY` of their commits a checkpoint takes the writers' turn and runs
    in a thread of its own (never queued behind a request-log flush while it holds the
    turn). The loop goes on meanwhile; only in-process writers wait for it, as they would
    for one another. Holding the turn matters: SQLite starts the
    WAL over only when a writer begins with every frame checkpointed, which writers
    committing during the checkpoint would prevent, and the WAL would grow for ever.
    Other processes' connections keep SQLite's own checkpoints, and the last connection to
    close checkpoints what is left.
    """

    __slots__ = ("_task", "commits", "path", "turns")

    def __init__(self, path: str, turns: _WriteTurns) -> None:
        self.path = path
        self.turns = turns
        self.commits = 0
        self._task: asyncio.Task[None] | None = None

    def committed(self) -> None:
        self.commits += 1
        if self.commits < CHECKPOINT_EVERY or self._task is not None:
            return
        self.commits = 0
        loop = asyncio.get_running_loop()  # the connections that commit here run on one
        self._task = loop.create_task(self._between_writers(loop))

    async def _between_writers(self, loop: asyncio.AbstractEventLoop) -> None:
        turn = _Turn()
        try:
            if await self.turns.take(turn):  # else writers kept it a whole timeout: next time
                try:
                    await loop.run_in_executor(_checkpoint_executor, self.checkpoint)
                finally:
                    self.turns.give_back(turn)
        except Exception as error:
            _log.warning("WAL checkpoint failed: %s", error)  # the next one tries again
        finally:
            self._task = None

    def checkpoint(self) -> None:
        connection = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.OperationalError as error:
            if not _is_busy(error):  # busy: another connection is checkpointing right now
                raise
        finally:
            connection.close()


def _opens_write(operation: str) -> bool:
    """Whether a statement run outside a transaction may take SQLite's write lock: anything
    but a plain read (DML and ``BEGIN`` open a transaction, DDL writes in one of its own)."""
    return operation.lstrip()[:6].upper() not in ("SELECT", "PRAGMA")


class _Inline:
    """Runs SQLite work on the event loop's thread, and only what finds the database locked
    in aiosqlite's thread, where it may wait for the lock without holding up the loop.

    A statement on a local SQLite file takes microseconds, and a hop to another thread costs
    far more than that in wake-ups and GIL hand-overs; readers never wait in WAL mode, and a
    writer first waits for its turn among the engine's writers (:class:`_WriteTurns`), which
    it holds until its transaction ends. A writer that still meets another's lock (another
    process's) is told so at once (the connection's busy timeout is 0) and is re-run in the
    thread with the real busy timeout. A statement refused as busy has done nothing, so
    running it again is safe.
    """

    __slots__ = ("busy_ms", "connection", "turns")

    def __init__(self, connection: Any, busy_ms: int, turns: _WriteTurns) -> None:
        self.connection = connection  # the aiosqlite Connection
        self.busy_ms = busy_ms
        self.turns = turns

    async def run(self, work: Callable[[sqlite3.Connection], _T], *, writes: bool = False) -> _T:
        """``writes``: the work may open a write transaction (see :func:`_opens_write`)."""
        raw: sqlite3.Connection = self.connection._conn
        if (
            writes
            and self.turns.holder is not self
            and not raw.in_transaction
            and not await self.turns.take(self)
        ):
            # A whole busy timeout without a turn (a writer holding its transaction that
            # long, or a second connection of one request): fail as SQLite would, busy.
            return work(raw)
        try:
            try:
                return work(raw)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
            return cast(_T, await self.connection._execute(self._waiting, raw, work))
        finally:
            self.settle()

    def settle(self) -> None:
        """Give the writers' turn back once this connection's transaction has ended."""
        if self.turns.holder is self and not self._in_transaction():
            self.turns.give_back(self)

    def _in_transaction(self) -> bool:
        raw: sqlite3.Connection | None = self.connection._connection
        try:
            return raw is not None and raw.in_transaction
        except sqlite3.ProgrammingError:  # closed
            return False

    def _waiting(self, raw: sqlite3.Connection, work: Callable[[sqlite3.Connection], _T]) -> _T:
        raw.execute(f"PRAGMA busy_timeout={self.busy_ms:d}")
        try:
            return work(raw)
        finally:
            raw.execute("PRAGMA busy_timeout=0")


class _InlineCursor(AsyncAdapt_aiosqlite_cursor):
    """SQLAlchemy's aiosqlite cursor, with each statement run whole by ``_Inline``.

    The stock cursor makes four hops to aiosqlite's thread per statement (create the cursor,
    execute, fetch all, close). This one runs them together and keeps the results here, as
    the stock cursor does with its rows; no sqlite3 cursor outlives the statement.
    """

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _async_soft_close(self) -> None:
        """Nothing to close: the statement's cursor was closed when it finished."""

    async def _run(self, operation: Any, parameters: Any, many: bool) -> None:
        adapt = cast(_InlineConnection, self._adapt_connection)
        async with adapt._execute_mutex:
            rows, self._description, self._rowcount, self._lastrowid = await adapt.inline.run(
                lambda raw: _run_statement(raw, operation, parameters, many),
                writes=_opens_write(operation),
            )
            self._rows = collections.deque(rows)

    async def _execute_async(self, operation: Any, parameters: Any) -> None:
        await self._run(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Sequence[Any]) -> None:
        await self._run(operation, seq_of_parameters, many=True)


class _InlineConnection(AsyncAdapt_aiosqlite_connection):
    """Makes ``_InlineCursor`` cursors and ends transactions through ``_Inline`` too, skipping
    a commit or rollback with no transaction to end (SQLite opens one only to write).

    However its transaction ends (commit, rollback, the pool's reset, a close or a terminate
    when the connection is invalidated or dropped), the connection gives its writers' turn back.
    """

    __slots__ = ("checkpoints", "inline")
    _cursor_cls = _InlineCursor

    def __init__(
        self,
        dbapi: Any,
        connection: Any,
        busy_ms: int,
        turns: _WriteTurns,
        checkpoints: _Checkpoints | None,
    ) -> None:
        super().__init__(dbapi, connection)
        self.inline = _Inline(connection, busy_ms, turns)
        self.checkpoints = checkpoints

    def commit(self) -> None:
        if self._transaction_open():
            self._end(sqlite3.Connection.commit)
            if self.checkpoints is not None:
                self.checkpoints.committed()
        self.inline.settle()

    def rollback(self) -> None:
        if self._transaction_open():
            self._end(sqlite3.Connection.rollback)
        self.inline.settle()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.inline.turns.give_back(self.inline)

    def terminate(self) -> None:
        try:
            super().terminate()
        finally:
            self.inline.turns.give_back(self.inline)

    def _end(self, how: Callable[[sqlite3.Connection], None]) -> None:
        try:
            await_only(self.inline.run(how))
        except Exception as error:
            self._handle_exception(error)

    def _transaction_open(self) -> bool:
        return self._connection._connection is None or bool(self._connection.in_transaction)


class _InlineAiosqlite(AsyncAdapt_aiosqlite_dbapi):
    """The aiosqlite DB-API adapter whose connections run their work inline (see ``_Inline``).

    The sqlite3 connection is made in aiosqlite's thread and used from the loop's, hence
    ``check_same_thread=False``; the cursor's mutex keeps the two from ever using it at once.
    One adapter per engine, whose connections share its writers' turns.
    """

    def __init__(self, aiosqlite: Any, sqlite: Any, busy_ms: int, path: str | None) -> None:
        super().__init__(aiosqlite, sqlite)
        self.busy_ms = busy_ms
        self.turns = _WriteTurns(busy_ms / 1000)
        # A database file's WAL is checkpointed off the loop; one in memory has none.
        self.checkpoints = _Checkpoints(path, self.turns) if path is not None else None

    def connect(self, *arg: Any, **kw: Any) -> _InlineConnection:
        kw["check_same_thread"] = False
        adapted = super().connect(*arg, **kw)
        return _InlineConnection(
            self, adapted._connection, self.busy_ms, self.turns, self.checkpoints
        )


def create_engine(url: str, *, timeout: float = DEFAULT_DB_TIMEOUT, **kwargs: Any) -> AsyncEngine:
    """An engine tuned per backend: WAL and a busy timeout on SQLite, a pool on PostgreSQL.

    ``timeout`` bounds every wait on the database: asyncpg's connect ``timeout`` and
    ``command_timeout`` (each statement), the pool's checkout, and on
    SQLite the busy timeout (kept below it). A database that is down or hung then fails a
    request within about that long instead of holding it for ever.
    """
    if is_sqlite(url):
        busy = sqlite_busy_timeout(timeout)
        dbapi = _InlineAiosqlite(
            __import__("aiosqlite"), sqlite3, int(busy * 1000), _database_file(make_url(url))
        )
        checkpoints = dbapi.checkpoints
        # Busy timeout 0: a statement run inline is told at once that the database is locked,
        # and waits for the lock (busy ms) in aiosqlite's thread instead (see _Inline).
        engine = create_async_engine(
            url,
            connect_args={"timeout": 0},
            module=dbapi,
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=SQLITE_POOL_SIZE,
            **kwargs,
        )
        event.listen(
            engine.sync_engine, "connect", _sqlite_pragmas(0, autocheckpoint=checkpoints is None)
        )
        _sqlite_busy[_companion_key(engine)] = busy
        return engine
    engine = create_async_engine(
        url,
        pool_size=POSTGRES_POOL_SIZE,
        max_overflow=POSTGRES_OVERFLOW,
        # No ping per checkout (a round trip each: a one-row read took 643 µs CPU with it,
        # 285 without). A connection the server dropped fails its request once, and the
        # disconnect invalidates the pool's older connections (tests/ops/test_faults.py).
        pool_pre_ping=False,
        pool_timeout=timeout,
        connect_args={"timeout": timeout, "command_timeout": timeout},
        **kwargs,
    )
    event.listen(engine.sync_engine, "invalidate", _terminate_if_hung)
    return engine


def _terminate_if_hung(
    dbapi_connection: Any, _record: Any, exception: BaseException | None
) -> None:
    """A connection dropped because the server did not answer in time is cut off at once.

    The pool closes it politely otherwise, and asyncpg's polite close waits for a server
    that is frozen: a request that had already waited one database timeout waited another
    (2 s against a SIGSTOPped PostgreSQL with a 1 s timeout, 1 s with this)."""
    cause = exception
    for _ in range(8):
        if cause is None:
            return
        if isinstance(cause, TimeoutError):
            # The driver's own connection: the adapter's terminate() tries the polite close
            # first, for up to 2 s.
            driver_connection = getattr(dbapi_connection, "driver_connection", None)
            if driver_connection is not None and hasattr(driver_connection, "terminate"):
                driver_connection.terminate()
            return
        cause = cause.__cause__ or cause.__context__


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


class Reader:
    """Reads for a request that changes nothing: each statement on a pooled connection, with
    no session and no transaction to end.

    A session costs a unit of work, a transaction and a commit per request; a read needs
    none of them. On PostgreSQL the connections are in autocommit, so a read is one round
    trip (no BEGIN, no ROLLBACK on return to the pool); SQLite opens no transaction to read.
    Two statements of one request may see different snapshots, so a request whose answer
    depends on two reads agreeing uses a session.
    """

    __slots__ = ("direct", "engine")

    def __init__(self, engine: AsyncEngine) -> None:
        sqlite = is_sqlite(str(engine.url))
        self.engine = engine if sqlite else engine.execution_options(isolation_level="AUTOCOMMIT")
        # SQLite: a read of a local file in WAL mode does not wait for writers, so it runs
        # on the Reader's own read-only connection, synchronously on the loop.
        self.direct = _OwnSQLite.of(engine, "query_only=ON")

    async def rows(self, statement: Executable, params: Mapping[str, Any]) -> Sequence[Row[Any]]:
        if self.direct is not None and (read := compiled_read(statement, self.engine.dialect)):
            done = self.direct.execute(read, read.arguments(params))
            if done is not None:  # else locked out: the pool's connections wait for it
                return read.shape.of(done[0], done[1], self.engine.dialect)
        return await _read(self.engine, statement, params)

    async def close(self) -> None:
        """Close the Reader's own connection (the engine's pool is the engine's to dispose)."""
        if self.direct is not None:
            self.direct.close()


def _database_file(url: URL) -> str | None:
    """The file of a SQLite URL naming a plain database file (no options, not in memory)."""
    path = url.database
    if not is_sqlite(str(url)) or not path or path == ":memory:" or url.query:
        return None
    return path


class _OwnSQLite:
    """A sqlite3 connection of the app's own on the engine's database file, for compiled
    statements run straight on the event loop (autocommit, busy timeout 0), with the
    engine's cursor events.

    Through the pool a statement takes a greenlet, a checkout and a return with its reset,
    and the async adapter's cursor: together more than SQLite spends on a page of 20 rows
    or a one-row INSERT. A statement that finds the database locked gives None, and its
    caller runs it through the pool, whose connections wait for the lock off the loop
    (``_Inline``); any other error is raised as the pool's would be, and one that is not a
    constraint's also closes the connection, which the next statement makes again.
    """

    __slots__ = ("_connection", "engine", "path", "pragmas")

    def __init__(self, engine: AsyncEngine, path: str, pragmas: tuple[str, ...]) -> None:
        self.engine = engine.sync_engine
        self.path = path
        self.pragmas = pragmas
        self._connection: sqlite3.Connection | None = None

    @classmethod
    def of(cls, engine: AsyncEngine, *pragmas: str) -> _OwnSQLite | None:
        """For a plain database file; a URL with options goes through the pool."""
        path = _database_file(engine.url)
        return cls(engine, path, pragmas) if path is not None else None

    def execute(
        self, compiled: _Compiled, arguments: Any, many: bool = False
    ) -> tuple[list[Any], Any, int] | None:
        """The rows, description and row count of the statement (``many``: once per argument
        list), or None if the database was locked."""
        connection = self._connection or self._connect()
        try:
            cursor = connection.cursor()
            try:
                _run_cursor(self.engine, cursor, compiled.sql, arguments, many)
                fetched = cursor.fetchall()
                description, rowcount = cursor.description, cursor.rowcount
            finally:
                cursor.close()
        except sqlite3.Error as error:
            if isinstance(error, sqlite3.OperationalError) and _is_busy(error):
                return None
            if not isinstance(error, sqlite3.IntegrityError):  # the row's fault, not the line's
                self.close()
            raise compiled._failed(self.engine, None, error) from error
        return fetched, description, rowcount

    def begin(self) -> bool:
        """Open a write transaction now (``BEGIN IMMEDIATE``): False if another connection
        holds the write lock."""
        connection = self._connection or self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            if _is_busy(error):
                return False
            self.close()
            raise self._wrapped("BEGIN IMMEDIATE", error) from error
        return True

    def end(self, commit: bool) -> None:
        """Commit or roll back the transaction :meth:`begin` opened. A commit that fails
        rolls back; a connection that cannot even roll back is closed, which does."""
        connection = self._connection
        if connection is None or not connection.in_transaction:
            return  # closed by a failed statement, which rolled the transaction back
        sql = "COMMIT" if commit else "ROLLBACK"
        try:
            connection.execute(sql)
        except sqlite3.Error as error:
            self.close()
            raise self._wrapped(sql, error) from error

    def _wrapped(self, sql: str, error: sqlite3.Error) -> DBAPIError:
        dbapi_error = self.engine.dialect.loaded_dbapi.Error
        return cast(
            DBAPIError,
            DBAPIError.instance(sql, None, error, dbapi_error, dialect=self.engine.dialect),
        )

    def _connect(self) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(
                self.path, timeout=0, isolation_level=None, check_same_thread=False
            )
            for pragma in self.pragmas:
                connection.execute(f"PRAGMA {pragma}")
        except sqlite3.Error as error:
            raise self._wrapped("", error) from error
        self._connection = connection
        return connection

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


class DirectWrites:
    """A request's writes on SQLite on the app's own connection, straight on the loop.

    A :class:`Writer` whose only statement is one new row runs it alone in autocommit
    (:meth:`run`); one that reads and writes in a transaction opens it here (:meth:`begin`,
    ``BEGIN IMMEDIATE``) and ends it with :meth:`end`. Either first takes the engine's
    writers' turn like any in-process writer, so it never races one, and holds it to the
    end of its statement or transaction; locked out by another process, the writer goes
    through the pool, whose connections wait for the lock off the loop.
    """

    __slots__ = ("checkpoints", "own", "turns")

    def __init__(
        self, own: _OwnSQLite, turns: _WriteTurns, checkpoints: _Checkpoints | None
    ) -> None:
        self.own = own
        self.turns = turns
        self.checkpoints = checkpoints

    @classmethod
    def of(cls, engine: AsyncEngine) -> DirectWrites | None:
        if _database_file(engine.url) is None:
            return None
        dbapi = cast(_InlineAiosqlite, engine.dialect.loaded_dbapi)
        pragmas = ["foreign_keys=ON", "synchronous=NORMAL"]
        if dbapi.checkpoints is not None:
            pragmas.append("wal_autocheckpoint=0")  # see _Checkpoints
        own = _OwnSQLite.of(engine, *pragmas)
        if own is None:
            return None
        return cls(own, dbapi.turns, dbapi.checkpoints)

    async def run(self, write: CompiledWrite, arguments: list[Any]) -> bool:
        """Whether the statement ran (False: locked out, for the pool to run)."""
        turn = _Turn()
        if not await self.turns.take(turn):
            return False
        try:
            ran = self.own.execute(write, arguments) is not None
        finally:
            self.turns.give_back(turn)
        if ran:
            self._committed()
        return ran

    async def begin(self) -> _Turn | None:
        """The writers' turn, with a transaction open on the own connection until
        :meth:`end`; None when locked out (nothing was done)."""
        turn = _Turn()
        if not await self.turns.take(turn):
            return None
        began = False
        try:
            began = self.own.begin()
        finally:
            if not began:
                self.turns.give_back(turn)
        return turn if began else None

    def execute(self, write: _Compiled, arguments: Any, many: bool = False) -> tuple[Any, ...]:
        """A statement of the open transaction, which holds the write lock: "locked" here
        is not a wait but a failure, raised as the pool's would be."""
        done = self.own.execute(write, arguments, many)
        if done is None:
            locked = sqlite3.OperationalError("database is locked")
            raise write._failed(self.own.engine, None, locked) from locked
        return done

    def end(self, turn: _Turn, commit: bool) -> None:
        try:
            self.own.end(commit)
        finally:
            self.turns.give_back(turn)
        if commit:
            self._committed()

    def _committed(self) -> None:
        if self.checkpoints is not None:
            self.checkpoints.committed()

    async def close(self) -> None:
        self.own.close()


class _Turn:
    """Who holds the writers' turn for one direct write."""

    __slots__ = ()


async def _read(
    engine: AsyncEngine, statement: Executable, params: Mapping[str, Any]
) -> Sequence[Row[Any]]:
    """Checkout, statement and return to the pool in one greenlet, where the async
    connection spawns one for each (a row read: 216 µs that way, 130 µs this)."""
    read = compiled_read(statement, engine.dialect)
    if read is None:
        return await greenlet_spawn(_read_sync, engine.sync_engine, statement, params)
    return await greenlet_spawn(read.run, engine.sync_engine, params)


def _read_sync(
    engine: Engine, statement: Executable, params: Mapping[str, Any]
) -> Sequence[Row[Any]]:
    with engine.connect() as connection:
        return connection.execute(statement, params).all()


def _compile(statement: Executable, dialect: Dialect) -> SQLCompiler:
    return cast(SQLCompiler, cast(ClauseElement, statement).compile(dialect=dialect))


class _Compiled:
    """A statement compiled once for one dialect: its SQL and its parameters in order, with
    the dialect's bind conversions (the column types)."""

    __slots__ = ("binds", "sql", "statement")

    def __init__(self, statement: Executable, dialect: Dialect) -> None:
        compiled = _compile(statement, dialect)
        self.statement = statement
        self.sql = compiled.string
        processors = cast(Mapping[str, Callable[[Any], Any]], compiled._bind_processors)
        self.binds = [
            (name, compiled.binds[name], processors.get(name))
            for name in compiled.positiontup or ()
        ]

    @staticmethod
    def _compiles_once(statement: Executable, dialect: Dialect) -> bool:
        """Positional parameters and nothing rendered per execution (``IN`` lists, literal
        binds) or named otherwise."""
        if dialect.paramstyle not in _POSITIONAL:
            return False
        compiled = _compile(statement, dialect)
        return not (
            compiled.literal_execute_params
            or compiled.post_compile_params
            or compiled.escaped_bind_names
        )

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        arguments = []
        for name, bind, process in self.binds:
            value = params[name] if bind.required else params.get(name, bind.effective_value)
            arguments.append(value if process is None else process(value))
        return arguments

    def _failed(self, engine: Engine, connection: Any, error: Any) -> DBAPIError:
        """``error`` from the driver as ``Connection`` raises it: wrapped, and a disconnect
        invalidating the connection and the pool's older ones."""
        dialect = engine.dialect
        invalidated = connection is not None and dialect.is_disconnect(error, connection, None)
        if invalidated:
            engine.pool._invalidate(connection, error)
        return cast(
            DBAPIError,
            DBAPIError.instance(
                self.sql,
                None,
                error,
                dialect.loaded_dbapi.Error,
                connection_invalidated=invalidated,
                dialect=dialect,
            ),
        )


class ResultRows:
    """The rows a compiled statement returns, as named tuples of its columns, converted as
    the column types say for what the driver gives (found from its description on first
    use: only the columns that need it)."""

    __slots__ = ("make_row", "results", "types")

    def __init__(self, columns: Sequence[Any], name: str) -> None:
        self.types = [column.type for column in columns]
        self.results: list[tuple[int, Callable[[Any], Any]]] | None = None
        row_type: Any = collections.namedtuple(name, [str(c.key) for c in columns])  # type: ignore[misc]
        self.make_row: Callable[[Sequence[Any]], Any] = row_type._make

    def of(self, fetched: Sequence[Sequence[Any]], description: Any, dialect: Dialect) -> list[Any]:
        if self.results is None:
            self.results = [
                (index, process)
                for index, (kind, described) in enumerate(zip(self.types, description, strict=True))
                if (process := kind._cached_result_processor(dialect, described[1]))
            ]
        make_row = self.make_row
        if not self.results:
            return [make_row(values) for values in fetched]
        rows = []
        for values in fetched:
            converted = list(values)
            for index, convert in self.results:
                converted[index] = convert(converted[index])
            rows.append(make_row(converted))
        return rows


class CompiledRead(_Compiled):
    """A select compiled once for one dialect and run on the pooled DB-API connection.

    The reads of the hot paths are fixed statements with bound parameters; SQLAlchemy's
    ``Connection`` spends more per execution on its execution context, events and result
    object than the database spends on the statement. This keeps what matters of it: the
    dialect's SQL, its bind and result conversions (the column types), the pool, and DB-API
    errors wrapped and disconnects invalidating the pool as ``Connection`` does, and the
    engine's cursor events (with no ``Connection`` or context: None). Rows are named tuples
    with the columns' names (``row.name``, ``row._asdict()``).
    """

    __slots__ = ("autocommit", "plain", "shape")

    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        super().__init__(statement, dialect)
        self.shape = ResultRows(list(statement.selected_columns), "ReadRow")
        # Neither locks rows nor writes (in a WITH).
        self.plain = statement._for_update_arg is None and not _compile(statement, dialect).ctes
        # PostgreSQL: no BEGIN and ROLLBACK around a plain read (as the Reader's AUTOCOMMIT did).
        self.autocommit = self.plain and dialect.name == "postgresql"

    @staticmethod
    def can_compile(statement: Executable, dialect: Dialect) -> bool:
        """Plain selects of named columns with positional parameters; anything rendered per
        execution (``IN`` lists, literal binds) or named otherwise goes through ``Connection``."""
        if not isinstance(statement, Select):
            return False
        keys = [column.key or "" for column in statement.selected_columns]
        if len(set(keys)) != len(keys) or not all(
            k.isidentifier() and not k.startswith("_") for k in keys
        ):
            return False  # not all usable as a named tuple's field names
        return _Compiled._compiles_once(statement, dialect)

    def run(self, engine: Engine, params: Mapping[str, Any]) -> list[Any]:
        """Checkout, statement, return to the pool; in a greenlet (the drivers are async)."""
        connection = _checkout(engine, self.sql)
        try:
            if self.autocommit:
                connection.dbapi_connection.autocommit = True  # type: ignore[union-attr]
            return self.fetch(engine, connection, self.arguments(params))
        finally:
            if self.autocommit and connection.is_valid:
                connection.dbapi_connection.autocommit = False  # type: ignore[union-attr]
            connection.close()

    def fetch(self, engine: Engine, connection: Any, arguments: list[Any]) -> list[Any]:
        """The rows on ``connection`` (checked out; in its transaction, if it has one)."""
        dialect = engine.dialect
        try:
            cursor = connection.cursor()
            try:
                _run_cursor(engine, cursor, self.sql, arguments)
                fetched = cursor.fetchall()
                description = cursor.description
            finally:
                cursor.close()
        except dialect.loaded_dbapi.Error as error:
            raise self._failed(engine, connection, error) from error
        return self.shape.of(fetched, description, dialect)


class CompiledWrite(_Compiled):
    """An INSERT, UPDATE or DELETE compiled once for one dialect, run on a DB-API connection
    in its transaction (a :class:`Writer`'s), as :class:`CompiledRead` runs a select: the
    dialect's SQL and bind conversions, errors wrapped as ``Connection`` wraps them and the
    engine's cursor events. A list of parameter sets is one ``executemany``."""

    __slots__ = ("names",)

    def __init__(self, statement: Executable, dialect: Dialect) -> None:
        super().__init__(statement, dialect)
        self.names = frozenset(name for name, _, _ in self.binds)

    @staticmethod
    def can_compile(statement: Executable, dialect: Dialect) -> bool:
        """Plain DML with no RETURNING (nothing to read back) and no SQL rendered per
        execution."""
        return (
            isinstance(statement, Insert | Update | Delete)
            and not statement._returning
            and _Compiled._compiles_once(statement, dialect)
        )

    def prepare(self, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> tuple[Any, bool]:
        """The driver's arguments for one parameter set or a list of them (``executemany``).

        A key that names no parameter is refused, as ``Connection`` refuses it."""
        sets = [params] if isinstance(params, Mapping) else params
        for values in sets:
            if unknown := values.keys() - self.names:
                raise ArgumentError(f"{sorted(unknown)} not parameters of {self.sql!r}")
        if isinstance(params, Mapping):
            return self.arguments(params), False
        return [self.arguments(values) for values in sets], True

    def run(self, engine: Engine, connection: Any, arguments: Any, many: bool) -> int:
        """The statement on ``connection`` (checked out, in its transaction): its row count."""
        try:
            cursor = connection.cursor()
            try:
                _run_cursor(engine, cursor, self.sql, arguments, many)
                return cast(int, cursor.rowcount)
            finally:
                cursor.close()
        except engine.dialect.loaded_dbapi.Error as error:
            raise self._failed(engine, connection, error) from error


def _run_cursor(engine: Engine, cursor: Any, sql: str, arguments: Any, many: bool = False) -> None:
    """The statement on a DB-API cursor between the engine's cursor events (with no
    ``Connection`` or execution context: None), which the outage tracker and tests hear."""
    events = engine.dispatch
    if events.before_cursor_execute:
        events.before_cursor_execute(None, cursor, sql, arguments, None, many)
    if many:
        cursor.executemany(sql, arguments)
    else:
        cursor.execute(sql, arguments)
    if events.after_cursor_execute:
        events.after_cursor_execute(None, cursor, sql, arguments, None, many)


def _checkout(engine: Engine, sql: str) -> PoolProxiedConnection:
    """A pooled DB-API connection; a driver's error wrapped as ``Connection`` wraps it."""
    dialect = engine.dialect
    dbapi_error = dialect.loaded_dbapi.Error
    try:
        return engine.raw_connection()
    except dbapi_error as error:
        raise DBAPIError.instance(sql, None, error, dbapi_error, dialect=dialect) from error


_POSITIONAL = frozenset({"qmark", "numeric", "numeric_dollar", "format"})
_COMPILED_MAX = 512
_compiled_by_statement: dict[tuple[int, str], _Compiled | None] = {}
_C = TypeVar("_C", bound=_Compiled)


def _compiled(statement: Executable, dialect: Dialect, kind: type[_C]) -> _C | None:
    """The statement's compiled form, made on first use; None for one that cannot be.

    Keyed by the statement object: the hot paths' statements are made once (module level,
    ``Keyset``, ``NewRows``). The entry holds the statement, so its id cannot be reused while
    cached; past the bound, further statements are simply run through ``Connection``."""
    key = (id(statement), dialect.name)
    if key in _compiled_by_statement:
        found = _compiled_by_statement[key]
        if found is None or found.statement is statement:
            return cast("_C | None", found)  # a string: no Union built per statement
    if len(_compiled_by_statement) >= _COMPILED_MAX:
        return None
    made = kind(statement, dialect) if kind.can_compile(statement, dialect) else None  # type: ignore[attr-defined]
    _compiled_by_statement[key] = made
    return made


def compiled_read(statement: Executable, dialect: Dialect) -> CompiledRead | None:
    """The select's ``CompiledRead`` (see :func:`_compiled`)."""
    return _compiled(statement, dialect, CompiledRead)


def compiled_write(statement: Executable, dialect: Dialect) -> CompiledWrite | None:
    """The DML statement's ``CompiledWrite`` (see :func:`_compiled`)."""
    return _compiled(statement, dialect, CompiledWrite)


async def read_rows(
    source: AsyncSession | Reader | Writer,
    statement: Executable,
    params: Mapping[str, Any],
    *,
    last: bool = False,
) -> Sequence[Row[Any]]:
    """The rows of a read, in the request's transaction if it has one (a session's or a
    ``Writer``'s), else by its ``Reader``. ``last``: see :meth:`Writer.rows` (a session
    writes everything with its commit anyway)."""
    if isinstance(source, Writer):
        return await source.rows(statement, params, last=last)
    if isinstance(source, Reader):
        return await source.rows(statement, params)
    connection = await core_connection(source)
    return (await connection.execute(statement, params)).all()


async def write_rows(
    target: Transaction,
    statement: Executable,
    params: Mapping[str, Any] | Sequence[Mapping[str, Any]],
) -> int:
    """Run a write in the request's transaction now; the number of rows it changed."""
    if isinstance(target, Writer):
        return await target.execute(statement, params)
    connection = await core_connection(target)
    return cast(CursorResult[Any], await connection.execute(statement, params)).rowcount


async def get_reader(request: Request) -> Reader:
    return request.app.state.reader


DBReader = Annotated[Reader, Depends(get_reader)]


class Writer:
    """A request's transaction of Core statements, with no ORM session: writes of plain rows
    and the reads they depend on, committed by :func:`get_writer` once the endpoint
    succeeded (rolled back otherwise).

    For a request that adds rows it shows back (``NewRows``), a session's unit of work,
    transaction bookkeeping and per-statement execution context cost more than SQLite
    spends on the statements. Each statement here is compiled once (:class:`CompiledRead`,
    :class:`CompiledWrite`) and run on the DB-API connection, which keeps what the
    session's connection had: SQLite's writers' turns (held until the commit), PostgreSQL's
    transaction, the pool's timeout. No ORM events run; what must happen with the commit
    is registered on the Writer (:meth:`before_commit`: the webhook outbox's rows;
    :meth:`after_commit`: waking the delivery worker), and ``info`` holds what the
    transaction's services note for one another, like a session's ``info``.

    A write whose row count the request does not need (``add``: new rows) is sent with the
    commit, as a session flushes its new objects then; a request refused before it writes
    holds no connection. A request whose only write is one such statement needs no
    transaction around it: on PostgreSQL it runs alone in autocommit, one round trip where
    BEGIN, the statement and COMMIT were three; on SQLite it runs on the app's own
    connection (``direct``: :class:`DirectWrites`), with no greenlet and no checkout.
    ``rows`` and ``execute`` run their statement in the transaction now, after what was
    added; on SQLite the transaction is then opened on the app's own connection with the
    write lock (``BEGIN IMMEDIATE``), so what a Writer reads stays as read until its commit,
    as PostgreSQL's ``FOR UPDATE`` keeps the rows it locks. On PostgreSQL the transaction
    begins with its first write or lock: a plain read before it runs without BEGIN, and a
    last statement that is the only write (``rows(last=True)``) runs alone in autocommit.
    """

    __slots__ = (
        "_after_commit",
        "_before_commit",
        "_begun",
        "_connection",
        "_last",
        "_pending",
        "_turn",
        "direct",
        "engine",
        "info",
    )

    def __init__(self, engine: AsyncEngine, direct: DirectWrites | None = None) -> None:
        self.engine = engine
        self.direct = direct
        self.info: dict[str, Any] = {}
        self._connection: PoolProxiedConnection | None = None
        self._begun = False  # a statement that writes or locks ran on ``_connection``
        self._last = False  # the last statement ran (``rows(last=True)``)
        self._turn: _Turn | None = None  # a transaction open on ``direct``
        self._pending: list[tuple[CompiledWrite, Any, bool]] = []
        self._before_commit: list[Callable[[], None]] = []
        self._after_commit: list[Callable[[], None]] = []

    def add(
        self, statement: Executable, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> None:
        """Write with the commit (a list of parameter sets: every one of them). The
        statement and its parameters are checked now, so a mistake is raised here."""
        write = self._compiled(statement)
        self._refuse_after_last()
        self._pending.append((write, *write.prepare(params)))

    async def rows(
        self, statement: Executable, params: Mapping[str, Any], *, last: bool = False
    ) -> list[Any]:
        """A select's rows in the transaction, now, after any statement added before.

        ``last``: the transaction writes or locks nothing after this statement (such a
        statement then is refused). On PostgreSQL a statement that writes (in a WITH) and is
        then the transaction's only write runs alone in autocommit, atomic by itself: one
        round trip where BEGIN, the statement and COMMIT were three."""
        read = compiled_read(statement, self.engine.dialect)
        if read is None:
            raise ArgumentError(f"not a statement a Writer reads: {statement}")
        if not read.plain:
            self._refuse_after_last()
        self._last = self._last or last
        arguments = read.arguments(params)
        if self.direct is not None and await self._direct_transaction():
            fetched, description, _ = self._run_direct(read, arguments, False)
            return read.shape.of(fetched, description, self.engine.dialect)
        return await greenlet_spawn(self._fetch, read, arguments, last)

    async def execute(
        self, statement: Executable, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> int:
        """Run the statement in the transaction now, after any added before; the number of
        rows it wrote."""
        write = self._compiled(statement)
        self._refuse_after_last()
        arguments, many = write.prepare(params)
        if self.direct is not None and await self._direct_transaction():
            return cast(int, self._run_direct(write, arguments, many)[2])
        return await greenlet_spawn(self._execute, write, arguments, many)

    def before_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` just before the commit; it may still ``add`` statements."""
        self._before_commit.append(callback)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the transaction committed (dropped on rollback)."""
        self._after_commit.append(callback)

    def _refuse_after_last(self) -> None:
        if self._last:
            raise ArgumentError("the transaction's last statement has run: nothing follows it")

    def _compiled(self, statement: Executable) -> CompiledWrite:
        write = compiled_write(statement, self.engine.dialect)
        if write is None:
            raise ArgumentError(f"not a statement a Writer runs: {statement}")
        return write

    async def _direct_transaction(self) -> bool:
        """Whether the transaction is on the app's own SQLite connection: opened there now
        if it has not begun anywhere (locked out by another process, it takes the pool)."""
        if self._turn is None and self._connection is None and self.direct is not None:
            self._turn = await self.direct.begin()
            if self._turn is None:
                self.direct = None
        return self._turn is not None

    def _run_direct(self, statement: _Compiled, arguments: Any, many: bool) -> tuple[Any, ...]:
        return self._send_added_directly().execute(statement, arguments, many)

    def _send_added_directly(self) -> DirectWrites:
        """Send what was added on the own connection, in the open transaction."""
        direct = cast(DirectWrites, self.direct)
        pending, self._pending = self._pending, []
        for write, arguments, many in pending:
            direct.execute(write, arguments, many)
        return direct

    def _fetch(self, read: CompiledRead, arguments: list[Any], last: bool = False) -> list[Any]:
        connection = self._flush(read.sql)
        engine = self.engine.sync_engine
        alone = last and engine.dialect.name == "postgresql"
        if self._begun or not (read.autocommit or alone):
            self._begun = True
            return read.fetch(engine, connection, arguments)
        # PostgreSQL, nothing written or locked yet: a plain read needs no BEGIN (under READ
        # COMMITTED it sees what it would have seen as the transaction's first statement),
        # nor does the last statement, after which the connection has nothing left to do.
        connection.dbapi_connection.autocommit = True  # type: ignore[union-attr]
        try:
            return read.fetch(engine, connection, arguments)
        finally:
            if connection.is_valid:
                connection.dbapi_connection.autocommit = False  # type: ignore[union-attr]
            if alone:
                self._connection = None
                connection.close()

    def _execute(self, write: CompiledWrite, arguments: Any, many: bool) -> int:
        connection = self._flush(write.sql)
        self._begun = True
        return write.run(self.engine.sync_engine, connection, arguments, many)

    def _flush(self, sql: str) -> PoolProxiedConnection:
        """The transaction's connection (taken now if need be), with what was added sent."""
        engine = self.engine.sync_engine
        if self._connection is None:
            self._connection = _checkout(engine, sql)
        pending, self._pending = self._pending, []
        for write, arguments, many in pending:
            self._begun = True
            write.run(engine, self._connection, arguments, many)
        return self._connection

    def _lone(self) -> tuple[CompiledWrite, Any, bool] | None:
        """The transaction's only statement, of one row, if that is all it has."""
        if not self._begun and len(self._pending) == 1 and not self._pending[0][2]:
            return self._pending[0]
        return None

    async def commit(self) -> None:
        """Commit; if anything on the way fails (a commit hook too), the transaction is
        rolled back before the error is raised, so no turn or connection stays held."""
        try:
            while self._before_commit:
                self._before_commit.pop(0)()
            if self._turn is not None:
                self._end_direct(True)
            elif not await self._commit_lone_directly() and (self._connection or self._pending):
                await greenlet_spawn(self._commit)
        except BaseException:
            await self.rollback()
            raise
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()

    async def rollback(self) -> None:
        self._pending = []
        self._before_commit.clear()
        self._after_commit.clear()
        if self._turn is not None:
            self._end_direct(False)
        if self._connection is not None:
            await greenlet_spawn(self._end, False)

    async def _commit_lone_directly(self) -> bool:
        if self.direct is None or (lone := self._lone()) is None:
            return False
        write, arguments, _many = lone
        if not await self.direct.run(write, arguments):
            return False
        self._pending = []
        return True

    def _end_direct(self, commit: bool) -> None:
        """Send what was added and commit on the own connection, or roll back; either way
        the writers' turn is given back."""
        direct, turn = cast(DirectWrites, self.direct), cast(_Turn, self._turn)
        self._turn = None
        try:
            if commit:
                self._send_added_directly()
        except BaseException:
            direct.end(turn, False)
            raise
        direct.end(turn, commit)

    def _commit(self) -> None:
        if self._lone() is not None and self.engine.dialect.name == "postgresql":
            self._alone(*self._pending.pop())
            return
        if self._pending:
            try:
                self._flush(self._pending[0][0].sql)
            except BaseException:
                self._end(False)
                raise
        self._end(True)

    def _alone(self, write: CompiledWrite, arguments: Any, many: bool) -> None:
        """The transaction's only statement, in autocommit (it is atomic by itself), on the
        connection its reads used if it has one."""
        engine = self.engine.sync_engine
        connection, self._connection = self._connection or _checkout(engine, write.sql), None
        try:
            connection.dbapi_connection.autocommit = True  # type: ignore[union-attr]
            write.run(engine, connection, arguments, many)
        finally:
            if connection.is_valid:
                connection.dbapi_connection.autocommit = False  # type: ignore[union-attr]
            connection.close()

    def _end(self, commit: bool) -> None:
        """Commit or not, and return the connection to the pool, which rolls back whatever
        was not committed."""
        connection, self._connection = self._connection, None
        self._begun = False
        if connection is None:
            return
        try:
            if commit:
                try:
                    connection.commit()
                except self.engine.dialect.loaded_dbapi.Error as error:
                    raise DBAPIError.instance(
                        "COMMIT",
                        None,
                        error,
                        self.engine.dialect.loaded_dbapi.Error,
                        dialect=self.engine.dialect,
                    ) from error
        finally:
            connection.close()


async def get_writer(request: Request) -> AsyncIterator[Writer]:
    """The request owns the transaction, as with :func:`get_session`: services write, this
    commits once the endpoint succeeded."""
    writer = Writer(request.app.state.engine, request.app.state.direct_writes)
    try:
        yield writer
    except BaseException:
        await writer.rollback()
        raise
    else:
        await writer.commit()


DBWriter = Annotated[Writer, Depends(get_writer, scope="function")]

Transaction = AsyncSession | Writer
"""Where a request makes its change: an ORM session, or a ``Writer`` (which has its own
``info`` and commit hooks)."""


def dialect_name(transaction: Transaction) -> str:
    """The database a transaction runs on ("sqlite", "postgresql")."""
    if isinstance(transaction, Writer):
        return transaction.engine.dialect.name
    return cast(AsyncEngine, transaction.bind).dialect.name


_sqlite_companions: dict[str, Engine] = {}
_sqlite_busy: dict[str, float] = {}
_write_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="botyard-sqlite-write")
_checkpoint_executor = ThreadPoolExecutor(
    max_workers=1, thread_name_prefix="botyard-sqlite-checkpoint"
)


def _companion_key(engine: AsyncEngine) -> str:
    return engine.url.set(drivername="sqlite").render_as_string(hide_password=False)


def _sqlite_companion(engine: AsyncEngine) -> Engine:
    """A plain pysqlite engine on the same file and with the same pragmas, made once, for
    background writers: their whole transaction is one job in one thread, where it may wait
    for the write lock (the busy timeout) without holding up the event loop."""
    key = _companion_key(engine)
    companion = _sqlite_companions.get(key)
    if companion is None:
        busy = _sqlite_busy.get(key, sqlite_busy_timeout(DEFAULT_DB_TIMEOUT))
        companion = create_sync_engine(
            engine.url.set(drivername="sqlite"), connect_args={"timeout": busy}
        )
        event.listen(companion, "connect", _sqlite_pragmas(int(busy * 1000)))
        _sqlite_companions[key] = companion
    return companion


async def fetch_first(
    engine: AsyncEngine, statement: Executable, params: dict[str, Any]
) -> Row[Any] | None:
    """The first row of a small read, for hot paths that run outside any session."""
    rows = await _read(engine, statement, params)
    return rows[0] if rows else None


async def run_in_transaction(
    engine: AsyncEngine, work: Callable[[Connection, _T], None], argument: _T
) -> None:
    """Run ``work(connection, argument)`` in one transaction, committed when it returns.

    For background writers (the request log): on SQLite the whole transaction is one hop to
    a single writer thread on the companion engine; elsewhere it runs on the async engine.
    """
    if not is_sqlite(str(engine.url)):
        async with engine.begin() as connection:
            await connection.run_sync(work, argument)
        return
    companion = _sqlite_companion(engine)

    def write() -> None:
        with companion.begin() as connection:
            work(connection, argument)

    await asyncio.get_running_loop().run_in_executor(_write_executor, write)


async def update_if(
    session: AsyncSession, row: Any, condition: ColumnElement[bool], **values: Any
) -> bool:
    """One conditional UPDATE of ``row``'s table row; the loaded object follows when it applied.

    The condition is checked by the statement itself (under SQLite's write lock, or
    PostgreSQL's row lock, which re-checks it against a concurrent committed change), so two
    requests that both read the row as, say, not yet rotated cannot both act on it. A rule
    checked in Python before writing would let both through.
    """
    state = sa_inspect(row)
    (key_column,) = state.mapper.primary_key
    result = await session.execute(
        update(state.mapper)
        .where(key_column == state.identity[0], condition)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], result).rowcount != 1:
        return False
    for name, value in values.items():
        set_committed_value(row, name, value)
    return True


def after_commit(transaction: Transaction, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the transaction commits (dropped on rollback).

    Used to evict in-process caches only when the change is visible to everyone.
    """
    if isinstance(transaction, Writer):
        transaction.after_commit(callback)
    else:
        transaction.sync_session.info.setdefault("after_commit", []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit(sync_session: Session) -> None:
    for callback in sync_session.info.pop("after_commit", []):
        callback()


@event.listens_for(Session, "after_rollback")
def _drop_after_commit(sync_session: Session) -> None:
    sync_session.info.pop("after_commit", None)
