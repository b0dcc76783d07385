"""Bot and knowledge-base rules. Every query is scoped to the caller's organization.

An id that belongs to another organization is looked up exactly like one that does not
exist, so the answer (404) says nothing about other tenants.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from botyard.bots.knowledge_index import knowledge_indexes
from botyard.bots.models import KNOWLEDGE_CHANGED, Bot, KnowledgeEntry
from botyard.bots.schemas import BotOut, KnowledgeOut
from botyard.core import clock
from botyard.core.database import Reader, Transaction, after_commit, read_rows
from botyard.core.errors import NotFound
from botyard.core.pagination import Keyset, Page
from botyard.core.rows import NewRows, core_connection, table_of

_bots = table_of(Bot)
_knowledge = table_of(KnowledgeEntry)
BOT_LIST = Keyset(
    _bots, {"organization_id": _bots.c.organization_id == bindparam("organization_id")}
)
KNOWLEDGE_LIST = Keyset(
    _knowledge,
    {
        "organization_id": _knowledge.c.organization_id == bindparam("organization_id"),
        "bot_id": _knowledge.c.bot_id == bindparam("bot_id"),
    },
)
_ONE_BOT = select(_bots).where(
    _bots.c.id == bindparam("bot_id"), _bots.c.organization_id == bindparam("organization_id")
)
_NEW_BOTS = NewRows(Bot)
_NEW_ENTRIES = NewRows(KnowledgeEntry)


def could_exist(object_id: str) -> bool:
    """Ids are ASCII without NUL; anything else names no row (and PostgreSQL refuses NUL)."""
    return object_id.isascii() and "\x00" not in object_id


async def list_bots(
    source: AsyncSession | Reader,
    organization_id: str,
    *,
    limit: int,
    cursor: str | None,
    columns: tuple[str, ...] | None = None,
) -> Page:
    """The organization's bots, newest first, as rows of ``columns`` (see ``Keyset``)."""
    return await BOT_LIST.page(
        source, {"organization_id": organization_id}, limit=limit, cursor=cursor, columns=columns
    )


async def read_bot(source: AsyncSession | Reader, organization_id: str, bot_id: str) -> Row[Any]:
    """A bot as a plain row, for a request that only shows it (``get_bot`` to change it)."""
    if not could_exist(bot_id):
        raise NotFound("bot", param="bot_id")
    rows = await read_rows(source, _ONE_BOT, {"bot_id": bot_id, "organization_id": organization_id})
    if not rows:
        raise NotFound("bot", param="bot_id")
    return rows[0]


async def get_bot(session: AsyncSession, organization_id: str, bot_id: str) -> Bot:
    if not could_exist(bot_id):
        raise NotFound("bot", param="bot_id")
    bot = (
        await session.scalars(
            select(Bot).where(Bot.id == bot_id, Bot.organization_id == organization_id)
        )
    ).first()
    if bot is None:
        raise NotFound("bot", param="bot_id")
    return bot


async def create_bot(target: Transaction, organization_id: str, fields: dict[str, Any]) -> BotOut:
    """``fields``: name, and optionally description, status and any reply setting.

    A new bot is one plain row: the API writes it with a ``Writer``, the dashboard in its
    session."""
    now = clock.now()
    row = _NEW_BOTS.row(organization_id=organization_id, created_at=now, updated_at=now, **fields)
    await _NEW_BOTS.insert(target, row)
    return BotOut.model_validate(row)


async def update_bot(session: AsyncSession, bot: Bot, changes: dict[str, Any]) -> Bot:
    """Apply the given fields (profile or settings); ``updated_at`` moves only on a real change."""
    if _apply(bot, changes):
        await session.flush()
        if "language" in changes:
            _evict_after_commit(session, bot.id)
    return bot


async def delete_bot(session: AsyncSession, bot: Bot) -> None:
    """Deleting a bot deletes its knowledge, conversations and messages with it."""
    await session.delete(bot)
    await session.flush()
    _evict_after_commit(session, bot.id)


async def list_bot_knowledge(
    source: AsyncSession | Reader,
    organization_id: str,
    bot_id: str,
    *,
    limit: int,
    cursor: str | None,
    columns: tuple[str, ...] | None = None,
) -> Page:
    """The knowledge entries of the organization's bot ``bot_id``, newest first, or 404; the
    bot is read only to tell an empty page from a bot that does not exist."""
    if not could_exist(bot_id):
        raise NotFound("bot", param="bot_id")
    return await KNOWLEDGE_LIST.child_page(
        source,
        {"organization_id": organization_id, "bot_id": bot_id},
        parent=lambda: read_bot(source, organization_id, bot_id),
        limit=limit,
        cursor=cursor,
        columns=columns,
    )


async def list_knowledge(
    source: AsyncSession | Reader,
    bot: Bot | Row[Any],
    *,
    limit: int,
    cursor: str | None,
    columns: tuple[str, ...] | None = None,
) -> Page:
    """A bot's knowledge entries, newest first, as rows of ``columns``."""
    return await KNOWLEDGE_LIST.page(
        source,
        {"organization_id": bot.organization_id, "bot_id": bot.id},
        limit=limit,
        cursor=cursor,
        columns=columns,
    )


async def get_entry(session: AsyncSession, bot: Bot, entry_id: str) -> KnowledgeEntry:
    if not could_exist(entry_id):
        raise NotFound("knowledge entry", param="kb_id")
    entry = (
        await session.scalars(
            select(KnowledgeEntry).where(
                KnowledgeEntry.id == entry_id,
                KnowledgeEntry.bot_id == bot.id,
                KnowledgeEntry.organization_id == bot.organization_id,
            )
        )
    ).first()
    if entry is None:
        raise NotFound("knowledge entry", param="kb_id")
    return entry


async def create_entry(
    session: AsyncSession, bot: Bot, *, question: str, answer: str, tags: list[str]
) -> KnowledgeOut:
    now = clock.now()
    row = _NEW_ENTRIES.row(
        organization_id=bot.organization_id,
        bot_id=bot.id,
        question=question,
        answer=answer,
        tags=_distinct(tags),
        created_at=now,
        updated_at=now,
    )
    connection = await core_connection(session)
    await connection.execute(KNOWLEDGE_CHANGED, {"bot_id": bot.id})  # ORM writes: models.py
    await _NEW_ENTRIES.insert(connection, row)
    _evict_after_commit(session, bot.id)
    return KnowledgeOut.model_validate(row)


async def update_entry(
    session: AsyncSession, entry: KnowledgeEntry, changes: dict[str, Any]
) -> KnowledgeEntry:
    if "tags" in changes:
        changes = {**changes, "tags": _distinct(changes["tags"])}
    if _apply(entry, changes):
        await session.flush()
        _evict_after_commit(session, entry.bot_id)
    return entry


async def delete_entry(session: AsyncSession, entry: KnowledgeEntry) -> None:
    await session.delete(entry)
    await session.flush()
    _evict_after_commit(session, entry.bot_id)


def _apply(row: Bot | KnowledgeEntry, changes: dict[str, Any]) -> bool:
    """Set the fields that differ; stamp ``updated_at`` if any did."""
    changed = False
    for name, value in changes.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    if changed:
        row.updated_at = clock.now()
    return changed


def _distinct(tags: list[str]) -> list[str]:
    """Tags in their given order without repeats."""
    return list(dict.fromkeys(tags))


def _evict_after_commit(session: AsyncSession, bot_id: str) -> None:
    after_commit(session, lambda: knowledge_indexes.evict(bot_id))
