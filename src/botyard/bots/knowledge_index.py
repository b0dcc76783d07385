"""The ranking index of each bot's knowledge base, built once and reused for every message.

Building an index analyses every entry; answering a message only looks terms up. So each
process keeps the built index of recently used bots, keyed by a version of the knowledge base
that any change moves: the language, the number of entries and their latest ``updated_at``
(a created, edited or deleted entry changes one of them). Checking the version costs one
aggregate query per message and works across processes; a change committed in this process
also evicts the bot's index at once, so it never waits for the version to tell.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from botyard.bots.models import Bot, KnowledgeEntry
from botyard.conversations.ranking import Document, KnowledgeIndex

DEFAULT_MAX_BOTS = 256
"""Indexes kept per process; the least recently used bot's index goes first."""

BUILD_IN_THREAD_FROM = 200
"""Entries from which the build runs off the event loop, so other requests keep flowing."""

Version = tuple[str, int, datetime | None]


class KnowledgeIndexCache:
    def __init__(self, max_bots: int = DEFAULT_MAX_BOTS) -> None:
        self.max_bots = max_bots
        self.builds = 0
        self._indexes: OrderedDict[str, tuple[Version, KnowledgeIndex]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._indexes)

    async def index_for(self, session: AsyncSession, bot: Bot) -> KnowledgeIndex:
        version = await _version(session, bot)
        cached = self._indexes.get(bot.id)
        if cached is not None and cached[0] == version:
            self._indexes.move_to_end(bot.id)
            return cached[1]
        documents = await _documents(session, bot.id)
        if len(documents) >= BUILD_IN_THREAD_FROM:
            index = await asyncio.to_thread(KnowledgeIndex, documents, bot.language)
        else:
            index = KnowledgeIndex(documents, bot.language)
        self.builds += 1
        self._indexes[bot.id] = (version, index)
        self._indexes.move_to_end(bot.id)
        while len(self._indexes) > self.max_bots:
            self._indexes.popitem(last=False)
        return index

    def evict(self, bot_id: str) -> None:
        self._indexes.pop(bot_id, None)

    def clear(self) -> None:
        self._indexes.clear()


async def _version(session: AsyncSession, bot: Bot) -> Version:
    count, latest = (
        await session.execute(
            select(func.count(KnowledgeEntry.id), func.max(KnowledgeEntry.updated_at)).where(
                KnowledgeEntry.bot_id == bot.id
            )
        )
    ).one()
    return (bot.language, int(count), latest)


async def _documents(session: AsyncSession, bot_id: str) -> list[Document]:
    rows = await session.execute(
        select(
            KnowledgeEntry.id, KnowledgeEntry.question, KnowledgeEntry.answer, KnowledgeEntry.tags
        )
        .where(KnowledgeEntry.bot_id == bot_id)
        .order_by(KnowledgeEntry.created_at, KnowledgeEntry.id)
    )
    return [
        Document(id=row.id, question=row.question, answer=row.answer, tags=tuple(row.tags or ()))
        for row in rows
    ]


knowledge_indexes = KnowledgeIndexCache()
"""The process-wide cache every reply goes through."""
