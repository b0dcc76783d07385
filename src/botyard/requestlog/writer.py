"""Batches request-log rows in memory and writes them off the request path.

The same batches keep ``last_used_at`` / ``last_used_ip``, the addresses each key was used
from, and the flags for keys presented after revocation or in a URL, so authentication never
writes to the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import operator
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from itertools import chain
from typing import Any, NamedTuple, cast

from sqlalchemy import Connection, Table, bindparam, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine

from botyard.api_keys.models import ApiKey, ApiKeyAddress
from botyard.core.database import UTCDateTime, run_in_transaction
from botyard.core.outage import describe, is_database_unavailable
from botyard.requestlog.models import RequestLog

logger = logging.getLogger("botyard.requestlog")

ROWS_PER_STATEMENT = 512
"""Rows per INSERT on SQLite: 6,144 parameters, well under SQLite's 32,766 (3.32 and later)."""

MAX_PENDING = 200_000
"""Rows kept while the database is unreachable; past this the oldest are dropped (and counted)."""

SHUTDOWN_WAIT = 10.0
"""Seconds a shutdown keeps retrying rows the database would not take before giving them up."""


class LogEntry(NamedTuple):
    """One request, in the field order the writer reads. Tests and tools build these; the
    middleware builds a plain tuple in the same order (a ``LogRow``), since a named tuple's
    constructor is a Python function and costs five times the tuple on every API request."""

    id: str
    created_at: datetime
    method: str
    route: str
    status: int
    latency_ms: float
    request_id: str
    ip: str | None
    user_agent: str | None
    organization_id: str | None = None
    key_id: str | None = None
    error_code: str | None = None
    authenticated: bool = False


LogRow = tuple[
    str, datetime, str, str, int, float, str, str | None, str | None,
    str | None, str | None, str | None, bool,
]  # fmt: skip
"""A ``LogEntry``'s fields as a plain tuple, in the same order."""

_FIELD_INDEX = {name: i for i, name in enumerate(LogEntry._fields)}


_to_microseconds = partial(round, ndigits=3)
"""Latency is stored in milliseconds to the microsecond. Rounded here, a whole batch at a time,
rather than by the middleware on every request."""


def sqlite_utc_text(value: datetime) -> str:
    """The text SQLite ends up storing for a ``UTCDateTime`` value (naive UTC, adapted by the
    sqlite3 driver with ``isoformat(" ")``), made here in one step: the writer converts every
    row, and the column type's processor layers cost ~1.5 µs."""
    if value.tzinfo is UTC:  # what the clock hands out: drop the "+00:00"
        return value.isoformat(" ")[:-6]
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")


class _RowInsert:
    """The request_logs INSERT compiled once per dialect, fed straight to the driver.

    Bypasses the per-row parameter handling of SQLAlchemy's bulk insert (on SQLite the flush
    holds the GIL the serving thread needs while it runs Python), while converting each value
    exactly as the column type would, so rows read back identically.
    """

    def __init__(self, dialect: Dialect) -> None:
        table = cast(Table, RequestLog.__table__)
        compiled = insert(table).compile(dialect=dialect)
        self.sql = compiled.string
        if dialect.name == "postgresql":
            # A commit whose answer was lost to a timeout may have gone through: the retry of
            # its batch must not fail on the ids it wrote, or the backlog would never drain.
            self.sql += " ON CONFLICT (id) DO NOTHING"
        self.dialect_name = dialect.name
        # Positional drivers (sqlite3, asyncpg) take tuples in the compiled order; named
        # ones (psycopg) take dicts keyed by column, which is how the binds are named here.
        self._positional = bool(compiled.positional)
        names = list(compiled.positiontup or []) if self._positional else list(table.c.keys())
        self._names = names
        self._multirow: dict[int, str] = {}
        # LogEntry's fields are named after the columns: one C-level getter per row.
        self._values = operator.itemgetter(*(_FIELD_INDEX[name] for name in names))
        self._conversions: list[tuple[int, Callable[[Any], Any]]] = []
        for i, name in enumerate(names):
            column_type = table.c[name].type
            if name == "latency_ms":
                self._conversions.append((i, _to_microseconds))
            elif isinstance(column_type, UTCDateTime) and dialect.name == "sqlite":
                self._conversions.append((i, sqlite_utc_text))
            elif (processor := column_type.bind_processor(dialect)) is not None:
                self._conversions.append((i, processor))

    def statements(self, batch: Sequence[LogRow]) -> Iterator[tuple[str, Any]]:
        """(SQL, parameters) pairs that insert the batch.

        On SQLite, rows go in multi-row INSERTs. The sqlite3 driver releases the GIL around
        each statement step and must take it back from the serving thread afterwards, which
        under load takes up to the interpreter's 5 ms switch interval: row by row, the writer
        managed about 700 rows/s against 4,500 requests/s and fell ever further behind. A
        statement of 512 rows pays that wait once. Chunk sizes are powers of two, so at most
        ten distinct statements are ever prepared. Other drivers take one executemany.
        """
        if self.dialect_name != "sqlite" or not self._positional:
            flat, width = self._flat_params(batch), len(self._names)
            rows = [flat[i : i + width] for i in range(0, len(flat), width)]
            if self._positional:
                yield self.sql, rows
            else:
                yield self.sql, [dict(zip(self._names, row, strict=True)) for row in rows]
            return
        start = 0
        while start < len(batch):
            size = min(ROWS_PER_STATEMENT, 1 << ((len(batch) - start).bit_length() - 1))
            yield self._multirow_sql(size), self._flat_params(batch[start : start + size])
            start += size

    def _flat_params(self, chunk: Sequence[LogRow]) -> tuple[Any, ...]:
        """All values of the chunk, row after row, converted column by column."""
        flat: list[Any] = list(chain.from_iterable(map(self._values, chunk)))
        width = len(self._names)
        for i, convert in self._conversions:
            flat[i::width] = list(map(convert, flat[i::width]))
        return tuple(flat)

    def _multirow_sql(self, rows: int) -> str:
        sql = self._multirow.get(rows)
        if sql is None:
            head, _, group = self.sql.partition(" VALUES ")
            sql = self._multirow[rows] = f"{head} VALUES {', '.join([group] * rows)}"
        return sql


@dataclass(slots=True)
class KeyUsage:
    last_used_at: datetime | None = None
    last_used_ip: str | None = None
    revoked_use_at: datetime | None = None
    exposed_in_url_at: datetime | None = None
    exposed_in_browser_at: datetime | None = None


def summarize(
    entries: list[LogRow],
) -> tuple[dict[str, KeyUsage], dict[tuple[str, str], tuple[datetime, datetime]]]:
    """Per key: latest authenticated use and flags; per (key, ip): first and last use seen.

    One pass over the batch, in the flush: entries arrive nearly in time order, so the usual
    step only moves a "last seen" forward."""
    usage: dict[str, KeyUsage] = {}
    addresses: dict[tuple[str, str], tuple[datetime, datetime]] = {}
    for _, at, _, _, _, _, _, ip, _, _, key_id, error_code, authenticated in entries:
        if key_id is None:
            continue
        item = usage.get(key_id)
        if item is None:
            item = usage[key_id] = KeyUsage()
        if authenticated:
            if item.last_used_at is None or at >= item.last_used_at:
                item.last_used_at, item.last_used_ip = at, ip
            if ip:
                pair = (key_id, ip)
                seen = addresses.get(pair)
                if seen is None:
                    addresses[pair] = (at, at)
                elif at > seen[1]:
                    addresses[pair] = (seen[0], at)
                elif at < seen[0]:
                    addresses[pair] = (at, seen[1])
        elif error_code == "api_key_revoked":
            item.revoked_use_at = max(at, item.revoked_use_at or at)
        elif error_code == "api_key_in_url":
            item.exposed_in_url_at = max(at, item.exposed_in_url_at or at)
        elif error_code == "secret_key_in_browser":
            item.exposed_in_browser_at = max(at, item.exposed_in_browser_at or at)
    return usage, addresses


class RequestLogWriter:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        flush_interval: float = 1.0,
        batch_size: int = 500,
    ) -> None:
        self._engine = engine
        self._flush_interval = flush_interval
        self._batch_size = batch_size
        self._pending: list[LogRow] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._insert: _RowInsert | None = None
        self._flush_lock = asyncio.Lock()
        self._failing_since: float | None = None
        self.max_pending = MAX_PENDING
        self.written = 0
        self.dropped = 0
        self.on_flush: Callable[[float], None] | None = None
        """Called with the seconds each successful write took (the metrics histogram)."""

    def add(self, entry: LogRow) -> None:
        """Called on the request path: an append, and a wake-up once a batch is full."""
        pending = self._pending
        pending.append(entry)
        if len(pending) >= self._batch_size:
            self._wake.set()
            if len(pending) > self.max_pending:  # the database has been away for a while
                self._drop_oldest()

    def _drop_oldest(self) -> None:
        excess = len(self._pending) - self.max_pending
        if excess <= 0:
            return
        del self._pending[:excess]
        if not self.dropped:
            logger.error(
                "request log backlog full (%d rows): dropping the oldest; /metrics counts them",
                self.max_pending,
            )
        self.dropped += excess

    @property
    def pending(self) -> int:
        return len(self._pending)

    def last_pending_use(self, key_id: str) -> datetime | None:
        """When a key was last used by a request not yet written: the key's ``last_used_at``
        trails its use by up to a flush interval, which a page shown right after a call
        must not present as "never"."""
        for row in reversed(self._pending):
            entry = LogEntry(*row)
            if entry.key_id == key_id and entry.authenticated:
                return entry.created_at
        return None

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="request-log-writer")

    async def stop(self, wait: float = SHUTDOWN_WAIT) -> None:
        """Stop the loop and write everything still pending (clean shutdown loses nothing).

        The loop is asked to finish, not cancelled: a cancellation landing just after a
        batch committed would put that batch back in the queue and write it twice. With the
        database away, the write is retried for ``wait`` seconds; then one line says how
        many rows are lost, and the shutdown goes on.
        """
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            await self._task
            self._task = None
        deadline = time.monotonic() + wait
        while True:
            try:
                await self.flush()
                return
            except Exception as exc:
                if time.monotonic() >= deadline:
                    logger.error(
                        "request log: %d rows could not be written before shutdown and are "
                        "lost (%s)",
                        len(self._pending),
                        describe(exc),
                    )
                    return
                self._failed(exc)
            await asyncio.sleep(
                min(self._flush_interval, 0.5, max(0.0, deadline - time.monotonic()))
            )

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._flush_interval)
            self._wake.clear()
            if self._stopping:
                return
            try:
                await self.flush()
            except Exception as exc:
                self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        """One line when writes start failing (a traceback if it is not the database being
        away); the rows stay pending and the next flush tries again."""
        if self._failing_since is not None:
            return
        self._failing_since = time.monotonic()
        if is_database_unavailable(exc):
            logger.error(
                "request log: cannot write (%s); keeping %d rows (at most %d) and retrying",
                describe(exc),
                len(self._pending),
                self.max_pending,
            )
        else:
            logger.error("request log flush failed; will retry", exc_info=exc)

    async def flush(self) -> int:
        async with self._flush_lock:
            batch, self._pending = self._pending, []
            if not batch:
                return 0
            started = time.perf_counter()
            try:
                await run_in_transaction(self._engine, self._write, batch)
            except BaseException:
                self._pending[:0] = batch
                self._drop_oldest()
                raise
            if self.on_flush is not None:
                self.on_flush(time.perf_counter() - started)
            self.written += len(batch)
            if self._failing_since is not None:
                logger.warning(
                    "request log: writing again after %.1f s; %d rows kept through it written",
                    time.monotonic() - self._failing_since,
                    len(batch),
                )
                self._failing_since = None
            return len(batch)

    def _write(self, connection: Connection, batch: list[LogRow]) -> None:
        """The whole batch in one transaction; on SQLite this runs in the writer thread.

        On SQLite the thread's Python work holds the GIL the serving thread needs, so the
        usage statements are built once (below) and each runs as one executemany per batch."""
        if self._insert is None or self._insert.dialect_name != connection.dialect.name:
            self._insert = _RowInsert(connection.dialect)
        for sql, params in self._insert.statements(batch):
            connection.exec_driver_sql(sql, params)
        usage, addresses = summarize(batch)
        used = [
            {"key": key_id, "at": item.last_used_at, "ip": item.last_used_ip}
            for key_id, item in usage.items()
            if item.last_used_at is not None
        ]
        if used:
            connection.execute(_MARK_USED, used)
        for flag, statement in _MARK_FLAG.items():
            flagged = [
                {"key": key_id, "at": at}
                for key_id, item in usage.items()
                if (at := getattr(item, flag)) is not None
            ]
            if flagged:
                connection.execute(statement, flagged)
        if addresses:
            connection.execute(
                _ADDRESS_FIRST_SEEN[connection.dialect.name],
                [
                    {"key_id": k, "ip": ip, "first_seen_at": first, "last_seen_at": last}
                    for (k, ip), (first, last) in addresses.items()
                ],
            )
            connection.execute(
                _ADDRESS_SEEN,
                [{"key": k, "seen_ip": ip, "at": last} for (k, ip), (_, last) in addresses.items()],
            )


_KEYS = cast(Table, ApiKey.__table__)
_ADDRESSES = cast(Table, ApiKeyAddress.__table__)
_AT = bindparam("at", type_=UTCDateTime())

_MARK_USED = (
    update(_KEYS)
    .where(
        _KEYS.c.id == bindparam("key"),
        _KEYS.c.last_used_at.is_(None) | (_KEYS.c.last_used_at <= _AT),
    )
    .values(last_used_at=_AT, last_used_ip=bindparam("ip"))
)
"""Moves ``last_used_at`` forward only: another process may have written a later use."""

_MARK_FLAG = {
    flag: update(_KEYS).where(_KEYS.c.id == bindparam("key")).values({flag: _AT})
    for flag in ("revoked_use_at", "exposed_in_url_at", "exposed_in_browser_at")
}
"""The moment a key was presented after revocation, in a URL, or by a browser, by KeyUsage
attribute."""
_ADDRESS_FIRST_SEEN = {
    name: module.insert(_ADDRESSES).on_conflict_do_nothing(index_elements=["key_id", "ip"])
    for name, module in (("postgresql", postgresql), ("sqlite", sqlite))
}
"""Records an address the first time a key is seen from it, by dialect name."""

_ADDRESS_SEEN = (
    update(_ADDRESSES)
    .where(
        _ADDRESSES.c.key_id == bindparam("key"),
        _ADDRESSES.c.ip == bindparam("seen_ip"),  # "ip" would clash with the column's own
        _ADDRESSES.c.last_seen_at < _AT,
    )
    .values(last_seen_at=_AT)
)
