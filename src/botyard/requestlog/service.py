"""Reading the request log: filtered pages, hourly usage, and retention.

Every query is scoped to one organization. Hourly grouping happens in SQL on both SQLite
and PostgreSQL through :class:`epoch_hour`, so charts never load raw rows into Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from botyard.core.errors import APIError
from botyard.core.pagination import paginate
from botyard.requestlog.models import RequestLog

HOUR = timedelta(hours=1)
DEFAULT_USAGE_RANGE = timedelta(hours=24)
MAX_USAGE_RANGE = timedelta(days=93)

_STATUS_FILTER = re.compile(r"([1-5])(\d\d|xx)", re.IGNORECASE)


class epoch_hour(FunctionElement[int]):
    """Whole hours since the Unix epoch of a UTC timestamp column, computed by the database."""

    type = BigInteger()
    inherit_cache = True
    name = "epoch_hour"


@compiles(epoch_hour)
def _epoch_hour_postgresql(element: epoch_hour, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {column}) / 3600) AS BIGINT)"


@compiles(epoch_hour, "sqlite")
def _epoch_hour_sqlite(element: epoch_hour, compiler: SQLCompiler, **kw: Any) -> str:
    # UTCDateTime stores naive UTC text on SQLite; strftime('%s') reads it as UTC.
    column = compiler.process(element.clauses, **kw)
    return f"(CAST(strftime('%s', {column}) AS INTEGER) / 3600)"


def hour_of(index: int) -> datetime:
    """The start of the hour ``epoch_hour`` numbered ``index``."""
    return datetime.fromtimestamp(index * 3600, UTC)


def as_utc(value: datetime) -> datetime:
    """Query parameters without an offset are read as UTC, the only zone the API speaks."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def status_range(value: str) -> tuple[int, int]:
    """``"429"`` → (429, 430); ``"4xx"`` → (400, 500). Anything else is a 400 naming ``status``."""
    match = _STATUS_FILTER.fullmatch(value.strip())
    if match is None:
        raise APIError(
            "invalid_status_filter",
            f"status must be an HTTP status code such as 429 or a class such as 4xx (got {value!r}).",
            param="status",
        )
    if match.group(2).lower() == "xx":
        low = int(match.group(1)) * 100
        return low, low + 100
    code = int(value.strip())
    return code, code + 1


def _check_range(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and since > until:
        raise APIError(
            "invalid_time_range",
            "until must not be earlier than since.",
            param="until",
        )


@dataclass(frozen=True, slots=True)
class LogFilters:
    key_id: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    route: str | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        """``since`` is inclusive and ``until`` exclusive, so consecutive ranges never overlap."""
        since = as_utc(self.since) if self.since else None
        until = as_utc(self.until) if self.until else None
        _check_range(since, until)
        conditions: list[ColumnElement[bool]] = []
        if self.key_id is not None:
            conditions.append(RequestLog.key_id == self.key_id)
        if self.status is not None:
            low, high = status_range(self.status)
            conditions += [RequestLog.status >= low, RequestLog.status < high]
        if since is not None:
            conditions.append(RequestLog.created_at >= since)
        if until is not None:
            conditions.append(RequestLog.created_at < until)
        if self.route is not None:
            conditions.append(RequestLog.route == self.route)
        return conditions


async def list_logs(
    session: AsyncSession,
    organization_id: str,
    filters: LogFilters,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[RequestLog], bool, str | None]:
    """One page of the organization's requests, newest first."""
    query = select(RequestLog).where(
        RequestLog.organization_id == organization_id, *filters.conditions()
    )
    return await paginate(
        session,
        query,
        created_at=RequestLog.created_at,
        id_column=RequestLog.id,
        limit=limit,
        cursor=cursor,
    )


@dataclass(frozen=True, slots=True)
class UsageRow:
    hour: datetime
    key_id: str | None
    status_class: str
    requests: int


def usage_range(
    since: datetime | None, until: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """Defaults to the last 24 hours; refuses reversed or overlong ranges."""
    until = as_utc(until) if until else now
    since = as_utc(since) if since else until - DEFAULT_USAGE_RANGE
    _check_range(since, until)
    if until - since > MAX_USAGE_RANGE:
        raise APIError(
            "invalid_time_range",
            f"usage covers at most {MAX_USAGE_RANGE.days} days; narrow since and until.",
            param="since",
        )
    return since, until


async def usage_by_hour(
    session: AsyncSession,
    organization_id: str,
    since: datetime,
    until: datetime,
    key_id: str | None = None,
) -> list[UsageRow]:
    """Requests per hour, key and status class in [since, until), grouped by the database.

    Hours without requests are absent. Rows come ordered by hour, then key, then class.
    """
    hour = epoch_hour(RequestLog.created_at).label("hour")
    status_class = (RequestLog.status // 100).label("status_class")
    query = (
        select(hour, RequestLog.key_id, status_class, func.count().label("requests"))
        .where(
            RequestLog.organization_id == organization_id,
            RequestLog.created_at >= as_utc(since),
            RequestLog.created_at < as_utc(until),
        )
        .group_by(hour, RequestLog.key_id, status_class)
    )
    if key_id is not None:
        query = query.where(RequestLog.key_id == key_id)
    rows = [
        UsageRow(hour_of(int(h)), k, f"{int(c)}xx", int(n))
        for h, k, c, n in (await session.execute(query)).all()
    ]
    rows.sort(key=lambda r: (r.hour, r.key_id or "", r.status_class))
    return rows


async def purge_expired(session: AsyncSession, now: datetime, retention_days: int) -> int:
    """Delete rows older than the retention period; returns how many went.

    Run hourly, each call removes about one hour of rows, which keeps the delete short.
    """
    cutoff = now - timedelta(days=retention_days)
    result = await session.execute(
        delete(RequestLog)
        .where(RequestLog.created_at < cutoff)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
