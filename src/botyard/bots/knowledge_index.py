"""The ranking index of each bot's knowledge base, built once and reused for every message.

Building an index analyses every entry; answering a message only looks terms up. So each
process keeps the built index of recently used bots, keyed by a version of the knowledge base
that any change moves: the bot's language and its ``knowledge_version``, which every write of
an entry moves in the same transaction (bots/models.py). Checking the version costs a column
of the bot's row and works across processes; a caller that looks the bot up anyway passes
what it read (:func:`version_of`). A change committed in this process also evicts the bot's
index at once, so it never waits for the version to tell.

Whoever holds a write key chooses what goes into an index, so the work is bounded (issue 17):
- per bot, the builder stops at its caps (``bot_max_bytes`` of estimated memory, and the
  ranking module's word and entry caps), and entries are read in batches so a bot's knowledge
  is never loaded whole;
- per process, the cache keeps at most ``max_bytes`` of indexes by their estimated sizes (and
  ``max_bots`` of them), evicting the least recently used;
- builds run on one dedicated thread, never on the event loop, and one build per bot and
  version runs at a time: concurrent messages wait for the same build (single flight).

Beside each index the cache keeps the answers of its entries, read by the same build, while
they fit in a share of the bot's budget (``ANSWERS_SHARE``): a reply then costs no query for
its text. The answers belong to the index's version exactly as its terms do, and go with it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from sqlalchemy import and_, bindparam, or_, select

from botyard.bots.models import Bot, KnowledgeEntry
from botyard.conversations.ranking import Document, IndexBuilder, KnowledgeIndex, Match
from botyard.core.database import Transaction, read_rows

_log = logging.getLogger(__name__)

MB = 1024 * 1024

DEFAULT_MAX_BOTS = 256
"""Indexes kept per process; the least recently used bot's index goes first."""

DEFAULT_MAX_BYTES = 256 * MB
"""Estimated memory of all indexes kept per process (BOTYARD_KNOWLEDGE_INDEX_MEMORY_MB)."""

DEFAULT_BOT_MAX_BYTES = 16 * MB
"""Estimated memory of one bot's index (BOTYARD_KNOWLEDGE_INDEX_BOT_MEMORY_MB): room for about
25,000 distinct words, more than a large FAQ's vocabulary (each costs ~600 bytes, mostly its
typo variants, while a repeated word costs 12 bytes a posting). The cap also bounds
a build's length, hence how long it competes with requests: with 32 MB builds, another
tenant's /v1/me p99 rose to 88 ms on a loaded machine, with 16 MB it stayed under 50."""

BATCH_SIZE = 100
"""Entries read from the database per step of a build."""

RANK_IN_THREAD_FROM = 20_000
"""Postings from which a message is ranked off the event loop too (a query visits each
posting of its terms once, so a large index could hold the loop for milliseconds)."""

PAUSE_TIMEOUT = 1.0
"""Seconds a build waits for the event loop's turn before it goes on regardless (a loop
that is shutting down may never give it)."""

ANSWERS_SHARE = 4
"""A bot's kept answers take at most a quarter of its index budget (``bot_max_bytes``);
answers beyond that are read from the database when a reply needs them."""

ANSWER_OVERHEAD = 100
"""Estimated bytes of an answer's dictionary slot beside the string itself."""

Version = tuple[str, int]
"""The bot's language and ``knowledge_version``."""
_T = TypeVar("_T")


class IndexedBot(Protocol):
    """What the cache needs of a bot: a ``Bot`` row, or the few columns a lookup selected."""

    @property
    def id(self) -> str: ...

    @property
    def language(self) -> str: ...


@dataclass(slots=True)
class _Kept:
    version: Version
    index: KnowledgeIndex
    answers: dict[str, str]
    """Entry id -> answer, for the entries whose answers fit the bot's share."""
    bytes: int
    """The index's estimated bytes and the answers'."""


class KnowledgeIndexCache:
    def __init__(
        self,
        max_bots: int = DEFAULT_MAX_BOTS,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        bot_max_bytes: int = DEFAULT_BOT_MAX_BYTES,
    ) -> None:
        self.max_bots = max_bots
        self.max_bytes = max_bytes
        self.bot_max_bytes = min(bot_max_bytes, max_bytes)
        self.builds = 0
        self.bytes = 0
        """Estimated memory of the cached indexes, kept in step with every insert and eviction."""
        self._indexes: OrderedDict[str, _Kept] = OrderedDict()
        self._building: dict[tuple[str, Version], asyncio.Future[KnowledgeIndex]] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._garbage: list[_Kept] = []

    def configure(self, *, max_bytes: int, bot_max_bytes: int) -> None:
        """Apply the settings of the app being started; cached indexes over the cap go."""
        self.max_bytes = max_bytes
        self.bot_max_bytes = min(bot_max_bytes, max_bytes)
        self._shrink()

    def __len__(self) -> int:
        return len(self._indexes)

    def cached(self, bot_id: str) -> KnowledgeIndex | None:
        """The bot's index if this process keeps one (whatever its version)."""
        kept = self._indexes.get(bot_id)
        return kept.index if kept is not None else None

    def answer(self, bot_id: str, index: KnowledgeIndex, entry_id: str) -> str | None:
        """The answer of an entry of ``index`` if the cache kept it with that index (None:
        read it from the database)."""
        kept = self._indexes.get(bot_id)
        if kept is None or kept.index is not index:
            return None
        return kept.answers.get(entry_id)

    async def index_for(
        self, source: Transaction, bot: IndexedBot, version: Version | None = None
    ) -> KnowledgeIndex:
        """The bot's index at ``version`` (see :func:`version_of`), read here if not given."""
        if version is None:
            version = await _version(source, bot)
        key = (bot.id, version)
        while True:
            kept = self._indexes.get(bot.id)
            if kept is not None and kept.version == version:
                self._indexes.move_to_end(bot.id)
                return kept.index
            pending = self._building.get(key)
            if pending is None:
                break
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # this request was cancelled, not the build it waited for
                # The request that was building went away: the next waiter builds instead.
        future: asyncio.Future[KnowledgeIndex] = asyncio.get_running_loop().create_future()
        self._building[key] = future
        try:
            index, answers, answer_bytes = await self._build(source, bot)
        except BaseException:
            future.cancel()
            raise
        finally:
            del self._building[key]
        future.set_result(index)
        self._store(bot.id, _Kept(version, index, answers, index.estimated_bytes + answer_bytes))
        return index

    async def rank(self, index: KnowledgeIndex, text: str, limit: int) -> list[Match]:
        """``index.rank``, off the event loop when the index is large."""
        if index.postings < RANK_IN_THREAD_FROM:
            return index.rank(text, limit)
        return await self._in_thread(index.rank, text, limit)

    async def _build(
        self, source: Transaction, bot: IndexedBot
    ) -> tuple[KnowledgeIndex, dict[str, str], int]:
        """The index, the answers kept beside it and their estimated bytes."""
        builder = IndexBuilder(
            bot.language,
            max_bytes=self.bot_max_bytes,
            pause=functools.partial(_wait_for_the_loop, asyncio.get_running_loop()),
        )
        answers: dict[str, str] = {}
        answer_bytes, answer_budget = 0, self.bot_max_bytes // ANSWERS_SHARE
        after: tuple[datetime, str] | None = None
        while True:
            documents, after = await _documents(source, bot.id, after)
            if not documents:
                break
            for document in documents:
                cost = sys.getsizeof(document.answer) + ANSWER_OVERHEAD
                if answer_bytes + cost <= answer_budget:
                    answers[document.id] = document.answer
                    answer_bytes += cost
            if not await self._in_thread(builder.add, documents):
                break
            if len(documents) < BATCH_SIZE:
                break
        index = await self._in_thread(builder.build)
        self.builds += 1
        if not index.complete:
            _log.warning(
                "knowledge index of %s is full: %d entries indexed (%d estimated bytes, "
                "%d words); later entries are left out",
                bot.id, len(index), index.estimated_bytes, builder.words,
            )  # fmt: skip
        return index, answers, answer_bytes

    async def _in_thread(self, work: Callable[..., _T], *args: object) -> _T:
        """Run ``work`` on the one index thread: builds queue there instead of taking every
        thread of the default pool that other work (password hashing, files) relies on."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="knowledge-index")
        return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)

    def _store(self, bot_id: str, kept: _Kept) -> None:
        self.evict(bot_id)
        if kept.bytes > self.max_bytes:
            return  # answers its own request, but is not kept
        self._indexes[bot_id] = kept
        self.bytes += kept.bytes
        self._shrink()

    def _shrink(self) -> None:
        while self._indexes and (self.bytes > self.max_bytes or len(self._indexes) > self.max_bots):
            self._discard(self._indexes.popitem(last=False)[1])

    def evict(self, bot_id: str) -> None:
        kept = self._indexes.pop(bot_id, None)
        if kept is not None:
            self._discard(kept)

    def clear(self) -> None:
        while self._indexes:
            self._discard(self._indexes.popitem()[1])

    def _discard(self, kept: _Kept) -> None:
        """Forget an index and let the index thread free it: freeing a large one takes
        milliseconds of the interpreter that the event loop should spend on requests."""
        self.bytes -= kept.bytes
        if self._executor is None:
            return  # no index was built here: nothing large to free
        self._garbage.append(kept)
        if len(self._garbage) == 1:
            self._executor.submit(self._free_garbage)

    def _free_garbage(self) -> None:
        """On the index thread: drop the discarded indexes (any still answering a message go
        when that message is done)."""
        garbage, self._garbage = self._garbage, []
        garbage.clear()


def version_of(language: str, knowledge_version: int) -> Version:
    return (language, knowledge_version)


_KNOWLEDGE_VERSION = select(Bot.knowledge_version).where(Bot.id == bindparam("bot_id"))


async def _version(source: Transaction, bot: IndexedBot) -> Version:
    rows = await read_rows(source, _KNOWLEDGE_VERSION, {"bot_id": bot.id})
    return version_of(bot.language, (rows[0].knowledge_version if rows else None) or 0)


_FIRST_DOCUMENTS = (
    select(
        KnowledgeEntry.id,
        KnowledgeEntry.question,
        KnowledgeEntry.answer,
        KnowledgeEntry.tags,
        KnowledgeEntry.created_at,
    )
    .where(KnowledgeEntry.bot_id == bindparam("bot_id"))
    .order_by(KnowledgeEntry.created_at, KnowledgeEntry.id)
    .limit(BATCH_SIZE)
)
_NEXT_DOCUMENTS = _FIRST_DOCUMENTS.where(
    or_(
        KnowledgeEntry.created_at > bindparam("created_at"),
        and_(
            KnowledgeEntry.created_at == bindparam("created_at"),
            KnowledgeEntry.id > bindparam("entry_id"),
        ),
    )
)


async def _documents(
    source: Transaction, bot_id: str, after: tuple[datetime, str] | None
) -> tuple[list[Document], tuple[datetime, str] | None]:
    """The next batch of entries, oldest first, and where the one after it starts."""
    if after is None:
        rows = await read_rows(source, _FIRST_DOCUMENTS, {"bot_id": bot_id})
    else:
        created_at, entry_id = after
        rows = await read_rows(
            source,
            _NEXT_DOCUMENTS,
            {"bot_id": bot_id, "created_at": created_at, "entry_id": entry_id},
        )
    documents = [
        Document(id=row.id, question=row.question, answer=row.answer, tags=tuple(row.tags or ()))
        for row in rows
    ]
    return documents, ((rows[-1].created_at, rows[-1].id) if rows else after)


def _wait_for_the_loop(loop: asyncio.AbstractEventLoop) -> None:
    """On the index thread, between two slices of a build: wait until the event loop has run
    what was ready before this point. A build and the loop share one interpreter lock; without
    the handshake the build holds it for 5 ms at a time whenever the loop wants it, which adds
    up over every request a build overlaps. With it, requests go first and the build takes
    the time the loop leaves over."""
    turn = threading.Event()
    try:
        loop.call_soon_threadsafe(turn.set)
    except RuntimeError:  # the loop is closed: nobody to wait for
        return
    turn.wait(PAUSE_TIMEOUT)


knowledge_indexes = KnowledgeIndexCache()
"""The process-wide cache every reply goes through."""
