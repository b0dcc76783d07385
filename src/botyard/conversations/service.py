"""Conversations between end users and bots, and how a bot picks its reply.

A reply is the best knowledge entry for the user's message when its score reaches the bot's
``answer_threshold``, otherwise the bot's fallback message. The ranking index of the bot's
knowledge comes from the process cache, so a message costs a lookup, not a rebuild.

Messages of a conversation get strictly increasing ``created_at`` values (a microsecond apart
when the clock has not moved), so "oldest first" is always the order they were written in,
also when several are sent at once (see :func:`_store_exchange`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Interval,
    Row,
    Select,
    bindparam,
    case,
    func,
    insert,
    literal,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from botyard.analytics import service as analytics
from botyard.bots import service as bots
from botyard.bots.knowledge_index import Version, knowledge_indexes, version_of
from botyard.bots.models import Bot, KnowledgeEntry
from botyard.conversations.models import Conversation, Message
from botyard.conversations.schemas import ConversationOut, MessageOut
from botyard.core import clock
from botyard.core.database import Reader, Transaction, dialect_name, read_rows, write_rows
from botyard.core.errors import APIError, Conflict, NotFound
from botyard.core.pagination import Keyset, Page
from botyard.core.rows import NewRows, table_of
from botyard.core.timefmt import clamp_time, with_zone
from botyard.webhooks import events

TICK = timedelta(microseconds=1)
SCORE_DIGITS = 4

_conversations = table_of(Conversation)
_messages = table_of(Message)
CONVERSATION_LIST = Keyset(
    _conversations,
    {
        "organization_id": _conversations.c.organization_id == bindparam("organization_id"),
        "bot_id": _conversations.c.bot_id == bindparam("bot_id"),
        "status": _conversations.c.status == bindparam("status"),
        "since": _conversations.c.created_at >= bindparam("since"),
        "until": _conversations.c.created_at < bindparam("until"),
    },
)
MESSAGE_LIST = Keyset(
    _messages,
    {
        "organization_id": _messages.c.organization_id == bindparam("organization_id"),
        "conversation_id": _messages.c.conversation_id == bindparam("conversation_id"),
    },
    newest_first=False,  # a transcript is read oldest first
)
_ONE_CONVERSATION = select(_conversations).where(
    _conversations.c.id == bindparam("conversation_id"),
    _conversations.c.organization_id == bindparam("organization_id"),
)


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    answer_source: str
    knowledge_id: str | None
    score: float


async def start_conversation(
    session: AsyncSession,
    bot: Bot,
    *,
    external_user_id: str | None = None,
    at: datetime | None = None,
) -> tuple[Conversation, Message]:
    """Open a conversation that begins with the bot's welcome message.

    ``at`` backdates it (the demo seed); requests always use the clock.
    """
    if bot.status != "active":
        raise Conflict("bot_paused", "This bot is paused; resume it to start conversations.")
    now = at or clock.now()
    conversation = Conversation(
        organization_id=bot.organization_id,
        bot_id=bot.id,
        external_user_id=external_user_id,
        status="open",
        created_at=now,
        updated_at=now,
        message_count=1,  # the welcome message
    )
    session.add(conversation)
    await session.flush()
    welcome = _message(conversation, "bot", bot.welcome_message, now, answer_source="welcome")
    session.add(welcome)
    await session.flush()
    await analytics.count_messages(session, [_counted_values(welcome)])
    organization_id = conversation.organization_id
    await events.emit(
        session,
        organization_id,
        "conversation.created",
        ConversationOut.model_validate(conversation),
    )
    await events.emit(
        session, organization_id, "message.created", MessageOut.model_validate(welcome)
    )
    return conversation, welcome


async def get_conversation(
    session: AsyncSession, organization_id: str, conversation_id: str
) -> Conversation:
    if not bots.could_exist(conversation_id):
        raise NotFound("conversation", param="conversation_id")
    conversation = (
        await session.scalars(
            select(Conversation).where(
                Conversation.id == conversation_id,
                Conversation.organization_id == organization_id,
            )
        )
    ).first()
    if conversation is None:
        raise NotFound("conversation", param="conversation_id")
    return conversation


async def read_conversation(
    source: AsyncSession | Reader, organization_id: str, conversation_id: str
) -> Row[Any]:
    """A conversation as a plain row, for a request that only shows it (``get_conversation``
    to change it)."""
    if not bots.could_exist(conversation_id):
        raise NotFound("conversation", param="conversation_id")
    rows = await read_rows(
        source,
        _ONE_CONVERSATION,
        {"conversation_id": conversation_id, "organization_id": organization_id},
    )
    if not rows:
        raise NotFound("conversation", param="conversation_id")
    return rows[0]


async def list_conversations(
    source: AsyncSession | Reader,
    organization_id: str,
    *,
    bot_id: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int,
    cursor: str | None,
    columns: tuple[str, ...] | None = None,
) -> Page:
    """Newest first; ``since`` is inclusive and ``until`` exclusive, both on ``created_at``."""
    if since is not None and until is not None and with_zone(since) > with_zone(until):
        raise APIError(
            "invalid_time_range",
            "since must not be later than until.",
            param="since",
            status_code=422,
            type="validation_error",
        )
    values = {
        "organization_id": organization_id,
        "bot_id": None if bot_id is None else (bot_id if bots.could_exist(bot_id) else ""),
        "status": status,
        "since": None if since is None else clamp_time(since),
        "until": None if until is None else clamp_time(until),
    }
    return await CONVERSATION_LIST.page(source, values, limit=limit, cursor=cursor, columns=columns)


async def list_conversation_messages(
    source: AsyncSession | Reader,
    organization_id: str,
    conversation_id: str,
    *,
    limit: int,
    cursor: str | None,
    columns: tuple[str, ...] | None = None,
) -> Page:
    """The messages of the organization's conversation ``conversation_id``, oldest first, or
    404; messages carry their organization, so the conversation is read only to tell an empty
    page from a conversation that does not exist."""
    if not bots.could_exist(conversation_id):
        raise NotFound("conversation", param="conversation_id")
    return await MESSAGE_LIST.child_page(
        source,
        {"organization_id": organization_id, "conversation_id": conversation_id},
        parent=lambda: read_conversation(source, organization_id, conversation_id),
        limit=limit,
        cursor=cursor,
        columns=columns,
    )


async def list_messages(
    source: AsyncSession | Reader,
    conversation: Conversation | Row[Any],
    *,
    limit: int,
    cursor: str | None,
    columns: tuple[str, ...] | None = None,
) -> Page:
    """Oldest first, the order a chat transcript is read in."""
    values = {"organization_id": conversation.organization_id, "conversation_id": conversation.id}
    return await MESSAGE_LIST.page(source, values, limit=limit, cursor=cursor, columns=columns)


async def send_message(
    transaction: Transaction,
    organization_id: str,
    conversation_id: str,
    text: str,
    *,
    at: datetime | None = None,
) -> tuple[MessageOut, MessageOut]:
    """Store the user's message and the bot's reply; returns both as the API shows them.

    One statement reads everything the exchange depends on (:data:`_CHAT`), in the
    transaction it opens, and the exchange is written with two more and the analytics
    counters' addition (:func:`_store_exchange`); ``at`` backdates it (the demo seed). The
    API's requests send it in a ``Writer`` (no ORM session); the widget and the dashboard,
    which read and change ORM objects around it, in their session.
    """
    if not bots.could_exist(conversation_id):
        raise NotFound("conversation", param="conversation_id")
    keys = {"conversation_id": conversation_id, "organization_id": organization_id}
    found = await read_rows(transaction, _CHAT, keys)
    if not found:
        raise NotFound("conversation", param="conversation_id")
    chat = found[0]
    if chat.status != "open":
        raise _closed()
    if chat.bot_status != "active":
        raise Conflict("bot_paused", "This bot is paused; resume it to get replies.")
    events.note_endpoints(transaction, organization_id, chat.any_endpoint)
    bot = _ReplyingBot(chat.bot_id, chat.language, chat.answer_threshold, chat.fallback_message)
    version = version_of(chat.language, chat.knowledge_version)
    reply = await choose_reply(transaction, bot, text, version=version)
    asked, answer = await _store_exchange(transaction, chat, text, reply, at)
    await events.emit(transaction, organization_id, "message.created", asked)
    await events.emit(transaction, organization_id, "message.created", answer)
    if reply.answer_source == "fallback":
        await events.emit(transaction, organization_id, "message.unanswered", asked)
    return asked, answer


async def post_message(
    session: AsyncSession, conversation: Conversation, text: str, *, at: datetime | None = None
) -> tuple[MessageOut, MessageOut]:
    """:func:`send_message` for a conversation already loaded, which it keeps up to date."""
    asked, answer = await send_message(
        session, conversation.organization_id, conversation.id, text, at=at
    )
    set_committed_value(conversation, "updated_at", answer.created_at)
    return asked, answer


_bots = table_of(Bot)
_knowledge = table_of(KnowledgeEntry)

_CHAT = (
    select(
        _conversations.c.id,
        _conversations.c.organization_id,
        _conversations.c.bot_id,
        _conversations.c.status,
        _conversations.c.updated_at,
        _bots.c.status.label("bot_status"),
        _bots.c.language,
        _bots.c.answer_threshold,
        _bots.c.fallback_message,
        _bots.c.knowledge_version,
        events.any_endpoint(_conversations.c.organization_id).label("any_endpoint"),
    )
    .join_from(_conversations, _bots, _bots.c.id == _conversations.c.bot_id)
    .where(
        _conversations.c.id == bindparam("conversation_id"),
        _conversations.c.organization_id == bindparam("organization_id"),
    )
)
"""A message's one read: the conversation, its bot's reply settings, the version of the bot's
knowledge (which picks the cached index) and whether any webhook endpoint listens.

It locks nothing. On PostgreSQL the exchange's one statement takes the row's lock and
derives the times from the row as it finds it (:data:`_EXCHANGE`), so this is a read in
autocommit. In a ``Writer`` on SQLite the read opens the transaction with the write lock
(``BEGIN IMMEDIATE``), so the update's compare-and-set (:data:`_ADVANCE`) always applies; a
session's read on SQLite takes no lock, and the retry covers the rare interleaving."""

_ADVANCE = (
    update(_conversations)
    .where(
        _conversations.c.id == bindparam("conversation_id"),
        _conversations.c.status == "open",
        _conversations.c.updated_at == bindparam("seen"),
    )
    .values(updated_at=bindparam("updated_at"), message_count=_conversations.c.message_count + 2)
)
"""Moves the conversation to its new last message if nothing moved it since it was read, and
counts the exchange's two messages (``message_count``, for analytics)."""

_LOCK = (
    select(_conversations.c.status, _conversations.c.updated_at)
    .where(_conversations.c.id == bindparam("conversation_id"))
    .with_for_update()
)
_MOVE = (
    update(_conversations)
    .where(_conversations.c.id == bindparam("conversation_id"))
    .values(updated_at=bindparam("updated_at"), message_count=_conversations.c.message_count + 2)
)
_NEW_MESSAGES = NewRows(Message)
_Exchange = tuple[dict[str, Any], dict[str, Any]]


def _exchange_in_one_statement() -> Select[tuple[datetime]]:
    """PostgreSQL: the whole exchange as one statement, which derives the times itself.

    The update moves an open conversation to ``greatest(its last message + 2 ticks, the
    reply's time as the request sees it)`` and returns that time; the messages are inserted
    at it (the reply) and a tick earlier (the user's), and the hours' counters count what
    was inserted. The row's lock is held for this statement only, and a concurrent message
    waits for it and then builds on its result: nothing to retry. No row: the conversation
    is gone or closed, and nothing was written."""
    moved = (
        update(_conversations)
        .where(
            _conversations.c.id == bindparam("conversation_id"), _conversations.c.status == "open"
        )
        .values(
            updated_at=func.greatest(
                _conversations.c.updated_at + literal(2 * TICK, Interval()),
                bindparam("updated_at", type_=_conversations.c.updated_at.type),
            ),
            message_count=_conversations.c.message_count + 2,
        )
        .returning(_conversations.c.updated_at)
        .cte("moved")
    )

    def message(prefix: str, created_at: ColumnElement[datetime]) -> Select[Any]:
        values = [
            created_at if c.key == "created_at" else bindparam(f"{prefix}_{c.key}", type_=c.type)
            for c in _messages.columns
        ]
        return select(*values).select_from(moved)

    counted = [_messages.c[name] for name in ("organization_id", "bot_id", "created_at")]
    counted += [_messages.c[column] for column, _ in analytics.MESSAGE_COUNTERS.values()]
    stored = (
        insert(_messages)
        .from_select(
            [c.key for c in _messages.columns],
            union_all(
                message("asked", moved.c.updated_at - literal(TICK, Interval())),
                message("answer", moved.c.updated_at),
            ),
        )
        .returning(*dict.fromkeys(counted))
        .cte("stored")
    )
    return select(moved.c.updated_at).add_cte(analytics.count_inserted(stored).cte("counted"))


_EXCHANGE = _exchange_in_one_statement()
_ANSWER = select(_knowledge.c.answer).where(_knowledge.c.id == bindparam("knowledge_id"))


@dataclass(frozen=True, slots=True)
class _ReplyingBot:
    """What a reply needs of its bot, as :data:`_CHAT` read it."""

    id: str
    language: str
    answer_threshold: float
    fallback_message: str


async def _store_exchange(
    transaction: Transaction, chat: Any, text: str, reply: Reply, at: datetime | None
) -> tuple[MessageOut, MessageOut]:
    """Write the two messages, move the conversation's ``updated_at`` to the reply, and count
    them (``message_count`` in the same update, then the analytics hours).

    The messages must come after every earlier one, so their times are derived from the
    ``updated_at`` that the update finds. On PostgreSQL one statement does it all
    (:data:`_EXCHANGE`). Elsewhere the update first tries the value the lookup read; when a
    concurrent message (or a close) changed it meanwhile, the row is read again under its
    lock (on SQLite the update already holds the write lock) and the times are derived
    again. Either way two messages sent at once are stored one after the other, never
    interleaved, and none lands in a conversation closed in between.
    """
    params = {"conversation_id": chat.id}
    asked_at = max(at or clock.now(), chat.updated_at + TICK)
    if dialect_name(transaction) == "postgresql":
        return await _store_in_one_statement(
            transaction, chat, _exchange(chat, text, reply, asked_at)
        )
    moved = await write_rows(
        transaction, _ADVANCE, {**params, "seen": chat.updated_at, "updated_at": asked_at + TICK}
    )
    if moved != 1:
        asked_at = max(at or clock.now(), await _locked_last_time(transaction, chat.id) + TICK)
        await write_rows(transaction, _MOVE, {**params, "updated_at": asked_at + TICK})
    exchange = _exchange(chat, text, reply, asked_at)
    await _NEW_MESSAGES.insert(transaction, *exchange)
    await analytics.count_messages(transaction, exchange)
    return _shown(exchange)


async def _store_in_one_statement(
    transaction: Transaction, chat: Any, exchange: _Exchange
) -> tuple[MessageOut, MessageOut]:
    """:data:`_EXCHANGE`, and the messages at the times it gave them."""
    asked, answer = exchange
    params = {
        "conversation_id": chat.id,
        "updated_at": answer["created_at"],
        **{f"asked_{key}": value for key, value in asked.items() if key != "created_at"},
        **{f"answer_{key}": value for key, value in answer.items() if key != "created_at"},
    }
    # With no webhook to queue, the exchange is the request's whole change.
    stored = await read_rows(transaction, _EXCHANGE, params, last=not chat.any_endpoint)
    if not stored:  # the conversation is gone or closed
        keys = {"conversation_id": chat.id, "organization_id": chat.organization_id}
        found = await read_rows(transaction, _ONE_CONVERSATION, keys)
        raise _closed() if found else NotFound("conversation", param="conversation_id")
    answer["created_at"] = stored[0].updated_at
    asked["created_at"] = answer["created_at"] - TICK
    return _shown(exchange)


async def _locked_last_time(transaction: Transaction, conversation_id: str) -> datetime:
    """The open conversation's ``updated_at``, its row locked until the commit."""
    current = await read_rows(transaction, _LOCK, {"conversation_id": conversation_id})
    if not current:
        raise NotFound("conversation", param="conversation_id")
    if current[0].status != "open":
        raise _closed()
    return cast(datetime, current[0].updated_at)


def _shown(exchange: _Exchange) -> tuple[MessageOut, MessageOut]:
    asked, answer = exchange
    return MessageOut.model_validate(asked), MessageOut.model_validate(answer)


def _exchange(chat: Any, text: str, reply: Reply, asked_at: datetime) -> _Exchange:
    """The rows of the user's message at ``asked_at`` and of the reply a tick later."""
    shared = {
        "organization_id": chat.organization_id,
        "conversation_id": chat.id,
        "bot_id": chat.bot_id,
    }
    asked = _NEW_MESSAGES.row(**shared, role="user", text=text, created_at=asked_at)
    answer = _NEW_MESSAGES.row(
        **shared,
        role="bot",
        text=reply.text,
        created_at=asked_at + TICK,
        answer_source=reply.answer_source,
        knowledge_id=reply.knowledge_id,
        score=reply.score,
    )
    return asked, answer


def _closed() -> Conflict:
    return Conflict(
        "conversation_closed", "This conversation is closed; start a new one to continue."
    )


async def close_conversation(
    session: AsyncSession, conversation: Conversation, *, at: datetime | None = None
) -> Conversation:
    """Closing twice is harmless: the first ``closed_at`` stays.

    One conditional UPDATE closes it, with ``closed_at`` no earlier than the ``updated_at``
    it finds: it waits for a message being stored meanwhile (which holds the row, or on
    SQLite the write lock, from its read to its commit: :data:`_CHAT`), so ``closed_at``
    comes after that message. Only the request whose update applied reports the close."""
    now = at or clock.now()
    later = case(
        (_conversations.c.updated_at > bindparam("now"), _conversations.c.updated_at),
        else_=bindparam("now"),
    )
    closed = await write_rows(
        session,
        update(_conversations)
        .where(_conversations.c.id == conversation.id, _conversations.c.status != "closed")
        .values(status="closed", closed_at=later, updated_at=later),
        {"now": now},
    )
    await session.refresh(conversation)
    if closed:
        await events.emit(
            session,
            conversation.organization_id,
            "conversation.closed",
            ConversationOut.model_validate(conversation),
        )
    return conversation


async def choose_reply(
    transaction: Transaction,
    bot: _ReplyingBot,
    text: str,
    *,
    version: Version | None = None,
) -> Reply:
    """The best entry's answer if it reaches the bot's threshold, else the fallback.

    ``version``: the bot's knowledge version if the caller read it (see ``index_for``)."""
    index = await knowledge_indexes.index_for(transaction, bot, version)
    matches = await knowledge_indexes.rank(index, text, limit=1)
    best = matches[0] if matches else None
    if best is not None and best.score >= bot.answer_threshold:
        answer = knowledge_indexes.answer(bot.id, index, best.id)
        if answer is None:
            rows = await read_rows(transaction, _ANSWER, {"knowledge_id": best.id})
            answer = rows[0].answer if rows else None
        if answer is not None:
            return Reply(answer, "knowledge", best.id, round(best.score, SCORE_DIGITS))
    score = round(best.score, SCORE_DIGITS) if best is not None else 0.0
    return Reply(bot.fallback_message, "fallback", None, score)


def _counted_values(message: Message) -> dict[str, Any]:
    """What the analytics counters read of a stored message (``analytics.count_messages``)."""
    return {
        "organization_id": message.organization_id,
        "bot_id": message.bot_id,
        "created_at": message.created_at,
        "role": message.role,
        "answer_source": message.answer_source,
    }


def _message(
    conversation: Conversation, role: str, text: str, at: datetime, **reply: Any
) -> Message:
    return Message(
        organization_id=conversation.organization_id,
        conversation_id=conversation.id,
        bot_id=conversation.bot_id,
        role=role,
        text=text,
        created_at=at,
        **reply,
    )
