"""Conversation and message figures per organization or bot, computed by the database.

Every figure is a SQL aggregate grouped by an hour or day bucket: ``strftime`` on SQLite,
``date_trunc`` on PostgreSQL, both in UTC. Python only fills in the empty buckets and divides
the counts into rates, so the cost does not grow with the number of rows returned.

Definitions: a conversation counts in the bucket it started in, and so do its end user (for
unique users) and all its messages (for messages per conversation); a message counts in the
bucket it was sent in. The answered and fallback rates are shares of the bot's replies to
end users; welcome messages are not replies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, distinct, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from botyard.analytics.schemas import Analytics, Figures, Interval, Point
from botyard.conversations.models import Conversation, Message
from botyard.core import clock
from botyard.core.errors import APIError
from botyard.core.timefmt import EARLIEST, LATEST, rfc3339, within_calendar

DEFAULT_PERIOD = timedelta(days=7)
STEPS: dict[str, timedelta] = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
MAX_PERIODS: dict[str, timedelta] = {"hour": timedelta(days=31), "day": timedelta(days=366)}
SQLITE_FORMATS = {"hour": "%Y-%m-%dT%H:00:00", "day": "%Y-%m-%dT00:00:00"}
RATE_DIGITS = 4
AVERAGE_DIGITS = 2


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


@dataclass
class _Counts:
    conversations: int = 0
    end_users: int = 0
    conversation_messages: int = 0
    user_messages: int = 0
    bot_messages: int = 0
    knowledge_replies: int = 0
    fallback_replies: int = 0

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


async def compute(
    session: AsyncSession,
    organization_id: str,
    *,
    bot_id: str | None,
    start: datetime,
    end: datetime,
    interval: Interval,
) -> Analytics:
    dialect = session.get_bind().dialect.name
    buckets: dict[datetime, _Counts] = {}
    step = STEPS[interval]
    at = _floor(start, interval)
    while at < end:
        buckets[at] = _Counts()
        at += step

    conversation_filter = _period_filter(
        Conversation.organization_id == organization_id,
        Conversation.created_at,
        Conversation.bot_id,
        bot_id,
        start,
        end,
    )
    conversation_bucket = _bucket(Conversation.created_at, interval, dialect)
    conversation_rows = await session.execute(
        select(
            conversation_bucket,
            func.count(distinct(Conversation.id)),
            func.count(distinct(Conversation.external_user_id)),
            func.count(Message.id),
        )
        .select_from(Conversation)
        .outerjoin(Message, Message.conversation_id == Conversation.id)
        .where(*conversation_filter)
        .group_by(conversation_bucket)
    )
    for bucket, conversations, end_users, messages in conversation_rows:
        counts = buckets[_bucket_start(bucket)]
        counts.conversations = conversations
        counts.end_users = end_users
        counts.conversation_messages = messages

    message_bucket = _bucket(Message.created_at, interval, dialect)
    message_rows = await session.execute(
        select(
            message_bucket,
            _count_where(Message.role == "user"),
            _count_where(Message.role == "bot"),
            _count_where(Message.answer_source == "knowledge"),
            _count_where(Message.answer_source == "fallback"),
        )
        .where(
            *_period_filter(
                Message.organization_id == organization_id,
                Message.created_at,
                Message.bot_id,
                bot_id,
                start,
                end,
            )
        )
        .group_by(message_bucket)
    )
    for bucket, user, bot, knowledge, fallback in message_rows:
        counts = buckets[_bucket_start(bucket)]
        counts.user_messages = int(user)
        counts.bot_messages = int(bot)
        counts.knowledge_replies = int(knowledge)
        counts.fallback_replies = int(fallback)

    # Distinct end users do not add up across buckets, so the total is its own query.
    total_end_users = await session.scalar(
        select(func.count(distinct(Conversation.external_user_id))).where(*conversation_filter)
    )
    totals = _Counts(
        end_users=int(total_end_users or 0),
        **{
            name: sum(getattr(counts, name) for counts in buckets.values())
            for name in (
                "conversations",
                "conversation_messages",
                "user_messages",
                "bot_messages",
                "knowledge_replies",
                "fallback_replies",
            )
        },
    )
    return Analytics(
        bot_id=bot_id,
        from_=start,
        to=end,
        interval=interval,
        totals=Figures(**totals.figures()),
        series=[
            Point(start=at, end=at + step, **counts.figures()) for at, counts in buckets.items()
        ],
    )


def _period_filter(
    organization: ColumnElement[bool],
    created_at: InstrumentedAttribute[datetime],
    bot_column: InstrumentedAttribute[str],
    bot_id: str | None,
    start: datetime,
    end: datetime,
) -> list[ColumnElement[bool]]:
    conditions = [organization, created_at >= start, created_at < end]
    if bot_id is not None:
        conditions.append(bot_column == bot_id)
    return conditions


def _bucket(column: InstrumentedAttribute[datetime], interval: Interval, dialect: str) -> Any:
    """The start of the column's UTC hour or day, as the database computes it.

    The unit and format are SQL literals, not parameters: PostgreSQL only accepts the same
    expression in SELECT and GROUP BY when it is textually identical.
    """
    if dialect == "postgresql":
        return func.date_trunc(
            literal_column(f"'{interval}'"), func.timezone(literal_column("'UTC'"), column)
        )
    return func.strftime(literal_column(f"'{SQLITE_FORMATS[interval]}'"), column)


def _bucket_start(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _count_where(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _floor(value: datetime, interval: Interval) -> datetime:
    value = value.replace(minute=0, second=0, microsecond=0)
    return value.replace(hour=0) if interval == "day" else value


def _ratio(part: int, whole: int, digits: int) -> float | None:
    return round(part / whole, digits) if whole else None


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
