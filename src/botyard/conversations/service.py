"""Conversations between end users and bots, and how a bot picks its reply.

A reply is the best knowledge entry for the user's message when its score reaches the bot's
``answer_threshold``, otherwise the bot's fallback message. The ranking index of the bot's
knowledge comes from the process cache, so a message costs a lookup, not a rebuild.

Messages of a conversation get strictly increasing ``created_at`` values (a microsecond apart
when the clock has not moved), so "oldest first" is always the order they were written in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from botyard.bots import service as bots
from botyard.bots.knowledge_index import knowledge_indexes
from botyard.bots.models import Bot, KnowledgeEntry
from botyard.conversations.models import Conversation, Message
from botyard.conversations.schemas import ConversationOut, MessageOut
from botyard.core import clock
from botyard.core.database import Reader, read_rows, table_of
from botyard.core.errors import APIError, Conflict, NotFound
from botyard.core.pagination import Keyset, Page
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
    )
    session.add(conversation)
    await session.flush()
    welcome = _message(conversation, "bot", bot.welcome_message, now, answer_source="welcome")
    session.add(welcome)
    await session.flush()
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
    return await CONVERSATION_LIST.page(source, values, limit=limit, cursor=cursor)


async def list_messages(
    source: AsyncSession | Reader,
    conversation: Conversation | Row[Any],
    *,
    limit: int,
    cursor: str | None,
) -> Page:
    """Oldest first, the order a chat transcript is read in."""
    values = {"organization_id": conversation.organization_id, "conversation_id": conversation.id}
    return await MESSAGE_LIST.page(source, values, limit=limit, cursor=cursor)


async def post_message(
    session: AsyncSession, conversation: Conversation, text: str, *, at: datetime | None = None
) -> tuple[Message, Message]:
    """Store the user's message and the bot's reply; returns both (``at`` as above)."""
    if conversation.status != "open":
        raise Conflict(
            "conversation_closed", "This conversation is closed; start a new one to continue."
        )
    bot = await bots.get_bot(session, conversation.organization_id, conversation.bot_id)
    if bot.status != "active":
        raise Conflict("bot_paused", "This bot is paused; resume it to get replies.")
    reply = await choose_reply(session, bot, text)
    asked_at = max(at or clock.now(), conversation.updated_at + TICK)
    message = _message(conversation, "user", text, asked_at)
    answer = _message(
        conversation,
        "bot",
        reply.text,
        asked_at + TICK,
        answer_source=reply.answer_source,
        knowledge_id=reply.knowledge_id,
        score=reply.score,
    )
    session.add_all([message, answer])
    conversation.updated_at = answer.created_at
    await session.flush()
    organization_id = conversation.organization_id
    asked = MessageOut.model_validate(message)
    await events.emit(session, organization_id, "message.created", asked)
    await events.emit(
        session, organization_id, "message.created", MessageOut.model_validate(answer)
    )
    if reply.answer_source == "fallback":
        await events.emit(session, organization_id, "message.unanswered", asked)
    return message, answer


async def close_conversation(
    session: AsyncSession, conversation: Conversation, *, at: datetime | None = None
) -> Conversation:
    """Closing twice is harmless: the first ``closed_at`` stays."""
    if conversation.status != "closed":
        now = max(at or clock.now(), conversation.updated_at)
        conversation.status = "closed"
        conversation.closed_at = now
        conversation.updated_at = now
        await session.flush()
        await events.emit(
            session,
            conversation.organization_id,
            "conversation.closed",
            ConversationOut.model_validate(conversation),
        )
    return conversation


async def choose_reply(session: AsyncSession, bot: Bot, text: str) -> Reply:
    """The best entry's answer if it reaches the bot's threshold, else the fallback."""
    index = await knowledge_indexes.index_for(session, bot)
    matches = await knowledge_indexes.rank(index, text, limit=1)
    best = matches[0] if matches else None
    if best is not None and best.score >= bot.answer_threshold:
        entry = await session.get(KnowledgeEntry, best.id)
        if entry is not None:
            return Reply(entry.answer, "knowledge", entry.id, round(best.score, SCORE_DIGITS))
    score = round(best.score, SCORE_DIGITS) if best is not None else 0.0
    return Reply(bot.fallback_message, "fallback", None, score)


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
