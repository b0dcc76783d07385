"""Conversation and message figures per organization or bot, totals and series.

Definitions: a conversation counts in the bucket it started in, and so do its end user (for
unique users) and all its messages (for messages per conversation); a message counts in the
bucket it was sent in. The answered and fallback rates are shares of the bot's replies to
end users; welcome messages are not replies. Buckets are UTC hours or days.

A request reads counters kept as messages are written, so its cost follows the hours and
conversations of the period, not its messages:

- Messages: ``analytics_message_hours`` holds one row per bot and UTC hour with the counts
  of ``MESSAGE_COUNTERS``. ``count_messages`` adds new messages to their hours in the
  transaction that inserts them: what they add is counted from the values inserted, and
  applied with one ``INSERT ... VALUES ... ON CONFLICT DO UPDATE SET n = n + excluded.n``,
  so a counter is exactly its messages whatever writers run at once: the
  database applies each addition to the row as it then stands (PostgreSQL holds the row
  lock until commit, SQLite has one writer at a time), and a rolled-back message takes its
  addition with it. The migration that made the table counted the messages already there
  with the same aggregate over all of them.
- A period that starts or ends inside an hour takes that hour's counters minus the messages
  of the hour that fall outside the period, read from ``messages``: at most two partial
  hours of rows, and by default (up to now) nothing lies beyond the end.
- Conversations are read from ``conversations`` within the period exactly, since unique end
  users do not add up across hours. Each carries ``message_count`` (its welcome message at
  start, then each exchange adds two in the UPDATE that moves ``updated_at``), so messages per
  conversation need no join with ``messages``.

Messages are never edited or deleted one by one: they go with their bot or organization, and
so do the counter rows (ON DELETE CASCADE). A new way of writing messages must count them.

Every figure comes from one SQL statement (so from one snapshot, also on a ``Reader``),
grouped by bucket; Python fills in the empty buckets and divides counts into rates. The
statement is built once per interval and filter.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    CTE,
    ColumnElement,
    CompoundSelect,
    Insert,
    Select,
    String,
    bindparam,
    distinct,
    func,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from botyard.analytics.models import MessageHour
from botyard.analytics.schemas import Analytics, Figures, Interval, Point
from botyard.conversations.models import Conversation, Message
from botyard.core import clock
from botyard.core.database import Reader, Transaction, UTCDateTime, Writer, read_rows
from botyard.core.errors import APIError
from botyard.core.rows import core_connection, table_of
from botyard.core.timefmt import EARLIEST, LATEST, rfc3339, within_calendar

DEFAULT_PERIOD = timedelta(days=7)
STEPS: dict[str, timedelta] = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
MAX_PERIODS: dict[str, timedelta] = {"hour": timedelta(days=31), "day": timedelta(days=366)}
RATE_DIGITS = 4
AVERAGE_DIGITS = 2
HOUR = STEPS["hour"]

# The statements use the tables' columns: Core statements skip the ORM's execution steps.
_MESSAGES = table_of(Message).c
_CONVERSATIONS = table_of(Conversation).c
_HOURS = table_of(MessageHour).c

MESSAGE_COUNTERS: dict[str, tuple[str, str]] = {
    "user_messages": ("role", "user"),
    "bot_messages": ("role", "bot"),
    "knowledge_replies": ("answer_source", "knowledge"),
    "fallback_replies": ("answer_source", "fallback"),
}
"""Which messages each counter of ``analytics_message_hours`` counts: (column, value)."""

MESSAGE_FIGURES: dict[str, ColumnElement[bool]] = {
    name: _MESSAGES[column] == value for name, (column, value) in MESSAGE_COUNTERS.items()
}
"""The same as conditions on ``messages``, for the statements that count stored messages."""


def resolve_period(
    start: datetime | None, end: datetime | None, interval: Interval
) -> tuple[datetime, datetime]:
    """The requested period, by default the 7 days up to now; times without offset are UTC."""
    end = _supported(end, "to") if end is not None else clock.now()
    start = _supported(start, "from") if start is not None else end - DEFAULT_PERIOD
    if start > end:
        raise _invalid("invalid_time_range", "from must not be later than to.")
    if end - start > MAX_PERIODS[interval]:
        days = MAX_PERIODS[interval].days
        raise _invalid(
            "time_range_too_long",
            f"An {interval}ly series covers at most {days} days; narrow from and to"
            + (" or use interval=day." if interval == "hour" else "."),
        )
    return start, end


async def count_messages(transaction: Transaction, messages: Sequence[Mapping[str, Any]]) -> None:
    """Add messages inserted in this transaction to their hours' counters, in that
    transaction (a ``Writer`` sends the additions with its commit).

    ``messages``: the columns of each message as inserted (``organization_id``, ``bot_id``,
    ``created_at`` and those of :data:`MESSAGE_COUNTERS`). The additions are counted here
    from those values, one row per bot and UTC hour, and each is applied by the upsert."""
    additions = hour_additions(messages)
    if not additions:
        return
    params = additions[0] if len(additions) == 1 else additions
    if isinstance(transaction, Writer):
        transaction.add(_ADD_TO_HOURS[transaction.engine.dialect.name], params)
        return
    connection = await core_connection(transaction)
    await connection.execute(_ADD_TO_HOURS[connection.dialect.name], params)


def hour_additions(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What the messages add to their hours' counters: one row per (organization, bot, UTC
    hour), in the order of that key (so concurrent writers lock the rows in one order)."""
    additions: dict[tuple[str, str, datetime], dict[str, Any]] = {}
    for message in messages:
        hour = message["created_at"].astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        key = (message["organization_id"], message["bot_id"], hour)
        counts = additions.get(key)
        if counts is None:
            counts = additions[key] = {
                "organization_id": key[0],
                "bot_id": key[1],
                "hour": hour,
                **dict.fromkeys(MESSAGE_COUNTERS, 0),
            }
        for name, (column, value) in MESSAGE_COUNTERS.items():
            if message[column] == value:
                counts[name] += 1
    return [additions[key] for key in sorted(additions)]


def _floor(value: datetime, interval: Interval) -> datetime:
    value = value.replace(minute=0, second=0, microsecond=0)
    return value.replace(hour=0) if interval == "day" else value


def _ratio(part: int, whole: int, digits: int) -> float | None:
    return round(part / whole, digits) if whole else None


@dataclass
class _Counts:
    """A bucket's or the period's counts, in the order of the statement's columns."""

    conversations: int = 0
    end_users: int = 0
    conversation_messages: int = 0
    user_messages: int = 0
    bot_messages: int = 0
    knowledge_replies: int = 0
    fallback_replies: int = 0

    def add(self, other: _Counts) -> None:
        """All but end users, which do not add up across buckets."""
        self.conversations += other.conversations
        self.conversation_messages += other.conversation_messages
        self.user_messages += other.user_messages
        self.bot_messages += other.bot_messages
        self.knowledge_replies += other.knowledge_replies
        self.fallback_replies += other.fallback_replies

    def figures(self) -> dict[str, Any]:
        replies = self.knowledge_replies + self.fallback_replies
        return {
            "conversations": self.conversations,
            "user_messages": self.user_messages,
            "bot_messages": self.bot_messages,
            "unique_end_users": self.end_users,
            "answered_rate": _ratio(self.knowledge_replies, replies, RATE_DIGITS),
            "fallback_rate": _ratio(self.fallback_replies, replies, RATE_DIGITS),
            "messages_per_conversation": _ratio(
                self.conversation_messages, self.conversations, AVERAGE_DIGITS
            ),
        }


EMPTY = _Counts().figures()


async def compute(
    source: AsyncSession | Reader,
    organization_id: str,
    *,
    bot_id: str | None,
    start: datetime,
    end: datetime,
    interval: Interval,
) -> Analytics:
    last_hour = _floor(end, "hour")
    params = {
        "organization_id": organization_id,
        "start": start,
        "end": end,
        "first_hour": _floor(start, "hour"),
        "last_hour": last_hour,
        "after_last_hour": last_hour + HOUR if last_hour < end else end,
    }
    if bot_id is not None:
        params["bot_id"] = bot_id
    found: dict[datetime, _Counts] = {}
    totals = _Counts()
    for row in await read_rows(source, _statement(interval, bot_id is not None), params):
        bucket, *counts = tuple[Any, ...](row)
        if bucket is None:  # the whole period's row
            totals.end_users = int(counts[1])
        else:
            found[bucket] = _Counts(*map(int, counts))
            totals.add(found[bucket])

    step = STEPS[interval]
    series = []
    at = _floor(start, interval)
    while at < end:
        figures = found[at].figures() if at in found else EMPTY
        series.append(Point(start=at, end=at + step, **figures))
        at += step
    return Analytics(
        bot_id=bot_id,
        from_=start,
        to=end,
        interval=interval,
        totals=Figures(**totals.figures()),
        series=series,
    )


class utc_hour(FunctionElement[datetime]):
    """The start of the UTC hour a time falls in, as the database computes it.

    SQLite stores times as text of one fixed width (``2031-01-05 09:15:00.000000``, what
    SQLAlchemy writes), so the hour is a prefix of it, padded back to that form: it compares
    with stored times and reads back as a datetime (``substr`` costs a fraction of
    ``strftime``, which parses the text). PostgreSQL gets a ``timestamptz``. The units are
    SQL literals: PostgreSQL accepts the same expression in SELECT and GROUP BY only when it
    is textually identical.
    """

    type = UTCDateTime()
    inherit_cache = True
    name = "utc_hour"


class utc_day(FunctionElement[datetime]):
    """The start of the UTC day a time falls in (see ``utc_hour``)."""

    type = UTCDateTime()
    inherit_cache = True
    name = "utc_day"


def _sqlite_start(prefix: int, padding: str) -> Any:
    def compile_(element: FunctionElement[datetime], compiler: SQLCompiler, **kw: Any) -> str:
        return f"substr({compiler.process(element.clauses, **kw)}, 1, {prefix}) || '{padding}'"

    return compile_


def _postgresql_start(unit: str) -> Any:
    def compile_(element: FunctionElement[datetime], compiler: SQLCompiler, **kw: Any) -> str:
        value = compiler.process(element.clauses, **kw)
        return f"timezone('UTC', date_trunc('{unit}', timezone('UTC', {value})))"

    return compile_


compiles(utc_hour, "sqlite")(_sqlite_start(13, ":00:00.000000"))
compiles(utc_day, "sqlite")(_sqlite_start(10, " 00:00:00.000000"))
compiles(utc_hour, "postgresql")(_postgresql_start("hour"))
compiles(utc_day, "postgresql")(_postgresql_start("day"))
BUCKETS: dict[str, type[utc_hour] | type[utc_day]] = {"hour": utc_hour, "day": utc_day}


def _counted(*, negated: bool = False) -> list[ColumnElement[int]]:
    """The counts of MESSAGE_FIGURES over the messages selected."""
    counts = {name: func.count().filter(counted) for name, counted in MESSAGE_FIGURES.items()}
    return [(-count if negated else count).label(name) for name, count in counts.items()]


def _add_to_hours(insert: Any) -> Any:
    """``INSERT ... VALUES (the additions) ON CONFLICT DO UPDATE SET n = n + excluded.n``."""
    statement = insert(table_of(MessageHour))
    return statement.on_conflict_do_update(
        index_elements=["organization_id", "bot_id", "hour"],
        set_={name: _HOURS[name] + statement.excluded[name] for name in MESSAGE_COUNTERS},
    )


_ADD_TO_HOURS = {
    "sqlite": _add_to_hours(sqlite.insert),
    "postgresql": _add_to_hours(postgresql.insert),
}


def count_inserted(inserted: CTE) -> Insert:
    """PostgreSQL: the upsert that adds messages inserted earlier in the same statement (a
    WITH whose RETURNING has their ``organization_id``, ``bot_id``, ``created_at`` and the
    columns of :data:`MESSAGE_COUNTERS`) to their hours' counters, as :func:`count_messages`
    adds them: for a write whose times the database derives."""
    hour = utc_hour(inserted.c.created_at)
    keys = [inserted.c.organization_id, inserted.c.bot_id, hour]
    counts = [
        func.count().filter(inserted.c[column] == value)
        for column, value in MESSAGE_COUNTERS.values()
    ]
    additions = select(*keys, *counts).group_by(*keys).order_by(*keys)
    columns = ["organization_id", "bot_id", "hour", *MESSAGE_COUNTERS]
    return cast(Insert, _ADD_TO_HOURS["postgresql"]).from_select(columns, additions)


_START = bindparam("start", type_=UTCDateTime())
_END = bindparam("end", type_=UTCDateTime())
_FIRST_HOUR = bindparam("first_hour", type_=UTCDateTime())
_LAST_HOUR = bindparam("last_hour", type_=UTCDateTime())
_AFTER_LAST_HOUR = bindparam("after_last_hour", type_=UTCDateTime())
_COUNTS = ["conversations", "end_users", "conversation_messages", *MESSAGE_FIGURES]


@functools.cache
def _statement(interval: Interval, by_bot: bool) -> CompoundSelect[*tuple[Any, ...]]:
    """The figures of the period: one row per bucket with any (bucket, *_COUNTS), then one
    row (NULL, NULL, end users of the whole period, NULL...).

    Conversations are grouped by the bucket they started in; the message counters of each
    hour the period touches, less the messages of its first and last hour outside it, by
    the bucket of their hour. The outer query adds up what each part gives a bucket.
    """
    organization = bindparam("organization_id", type_=String())
    bot = bindparam("bot_id", type_=String())

    def owned(table: Any) -> list[ColumnElement[bool]]:
        conditions = [table.organization_id == organization]
        return [*conditions, table.bot_id == bot] if by_bot else conditions

    def no(*names: str) -> list[Any]:
        return [literal_column("0").label(name) for name in names]

    started = [
        *owned(_CONVERSATIONS),
        _CONVERSATIONS.created_at >= _START,
        _CONVERSATIONS.created_at < _END,
    ]
    start_bucket = BUCKETS[interval](_CONVERSATIONS.created_at)
    end_users = func.count(distinct(_CONVERSATIONS.external_user_id))
    conversations = (
        select(
            start_bucket.label("at"),
            func.count().label("conversations"),
            end_users.label("end_users"),
            func.sum(_CONVERSATIONS.message_count).label("conversation_messages"),
            *no(*MESSAGE_FIGURES),
        )
        .where(*started)
        .group_by(start_bucket)
    )
    hours = select(
        _HOURS.hour.label("at"),
        *no("conversations", "end_users", "conversation_messages"),
        *(_HOURS[name] for name in MESSAGE_FIGURES),
    ).where(*owned(_HOURS), _HOURS.hour >= _FIRST_HOUR, _HOURS.hour < _END)

    def outside(hour: Any, after: Any, before: Any) -> Select[*tuple[Any, ...]]:
        """The messages of ``hour`` in [after, before), outside the period: subtracted."""
        return (
            select(
                hour.label("at"),
                *no("conversations", "end_users", "conversation_messages"),
                *_counted(negated=True),
            )
            .where(*owned(_MESSAGES), _MESSAGES.created_at >= after, _MESSAGES.created_at < before)
            .having(func.count() > literal_column("0"))
        )

    parts = union_all(
        conversations,
        hours,
        outside(_FIRST_HOUR, _FIRST_HOUR, _START),
        outside(_LAST_HOUR, _END, _AFTER_LAST_HOUR),
    ).subquery()
    bucket = BUCKETS[interval](parts.c.at)
    return union_all(
        select(bucket, *(func.sum(parts.c[name]) for name in _COUNTS)).group_by(bucket),
        select(null(), null(), end_users, *(null() for _ in _COUNTS[2:])).where(*started),
    )


def _supported(value: datetime, param: str) -> datetime:
    try:
        return within_calendar(value)
    except ValueError:
        raise _invalid(
            "time_out_of_range",
            f"{param} must lie between {rfc3339(EARLIEST)} and {rfc3339(LATEST)}.",
            param,
        ) from None


def _invalid(code: str, message: str, param: str = "from") -> APIError:
    return APIError(code, message, param=param, status_code=422, type="validation_error")
