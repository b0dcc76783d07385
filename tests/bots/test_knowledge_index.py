"""The per-process cache of knowledge indexes: reused while the knowledge stays the same."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import weakref
from collections.abc import Sequence

import pytest
from fastapi import FastAPI

from botyard.bots.knowledge_index import ANSWER_OVERHEAD, KnowledgeIndexCache, _wait_for_the_loop
from botyard.bots.models import Bot, KnowledgeEntry
from botyard.conversations.ranking import Document, IndexBuilder, KnowledgeIndex
from tests.factories import make_bot, make_org


async def add_entry(app: FastAPI, bot: Bot, question: str, answer: str) -> None:
    async with app.state.sessionmaker() as session:
        session.add(
            KnowledgeEntry(
                organization_id=bot.organization_id, bot_id=bot.id, question=question, answer=answer
            )
        )
        await session.commit()


async def test_the_index_is_built_once_until_the_knowledge_changes(app: FastAPI) -> None:
    bot = await make_bot(app, await make_org(app))
    await add_entry(app, bot, "How do I get a refund?", "Ask billing.")
    cache = KnowledgeIndexCache()
    async with app.state.sessionmaker() as session:
        first = await cache.index_for(session, bot)
        assert await cache.index_for(session, bot) is first
    assert cache.builds == 1
    assert [m.id for m in first.rank("refund")] != []

    await add_entry(app, bot, "When are you open?", "Always.")
    async with app.state.sessionmaker() as session:
        second = await cache.index_for(session, bot)
    assert second is not first
    assert cache.builds == 2
    assert len(second.rank("open")) == 1


async def test_a_language_change_rebuilds_the_index(app: FastAPI) -> None:
    bot = await make_bot(app, await make_org(app))
    await add_entry(app, bot, "Comment obtenir un remboursement ?", "Oui.")
    cache = KnowledgeIndexCache()
    async with app.state.sessionmaker() as session:
        english = await cache.index_for(session, bot)
        bot.language = "fr"
        french = await cache.index_for(session, bot)
    assert french is not english
    # French stopwords only count as such once the index speaks French.
    question = "Je veux être remboursé"
    assert english.rank(question)[0].score < 0.5
    assert french.rank(question)[0].score == 1.0


async def test_the_cache_keeps_only_the_most_recently_used_bots(app: FastAPI) -> None:
    org = await make_org(app)
    bots = [await make_bot(app, org) for _ in range(3)]
    cache = KnowledgeIndexCache(max_bots=2)
    async with app.state.sessionmaker() as session:
        first = await cache.index_for(session, bots[0])
        await cache.index_for(session, bots[1])
        assert await cache.index_for(session, bots[0]) is first
        await cache.index_for(session, bots[2])
        assert len(cache) == 2
        builds = cache.builds
        assert await cache.index_for(session, bots[0]) is first
        await cache.index_for(session, bots[1])
    assert cache.builds == builds + 1


async def test_the_cache_keeps_its_estimated_bytes_under_the_cap(app: FastAPI) -> None:
    org = await make_org(app)
    bots = [await make_bot(app, org) for _ in range(3)]
    answer = " ".join(f"word{i}x" for i in range(300))
    answer_bytes = sys.getsizeof(answer) + ANSWER_OVERHEAD
    for number, bot in enumerate(bots):
        await add_entry(app, bot, f"question {number}", answer)
    sizing = KnowledgeIndexCache()
    async with app.state.sessionmaker() as session:
        size = (await sizing.index_for(session, bots[0])).estimated_bytes
        cache = KnowledgeIndexCache(max_bytes=int(size * 2.5))
        indexes = [await cache.index_for(session, bot) for bot in bots]
    assert len(cache) == 2  # the third pushed the least recently used one out
    kept = [index.estimated_bytes + answer_bytes for index in indexes]  # one answer each
    assert cache.bytes == sum(kept[1:]) <= cache.max_bytes
    cache.evict(bots[1].id)
    assert (len(cache), cache.bytes) == (1, kept[2])
    cache.configure(max_bytes=size // 2, bot_max_bytes=size)
    assert (len(cache), cache.bytes, cache.bot_max_bytes) == (0, 0, size // 2)


async def test_answers_are_kept_with_their_index_while_they_fit(app: FastAPI) -> None:
    """A reply reads its text from the cache: the answers of the version the index was built
    from, within a quarter of the bot's budget; an answer beyond it is read when needed."""
    bot = await make_bot(app, await make_org(app))
    await add_entry(app, bot, "How do I get a refund?", "Ask billing.")
    async with app.state.sessionmaker() as session:
        size = (await KnowledgeIndexCache().index_for(session, bot)).estimated_bytes
    # A budget of four such indexes leaves the answers a share of one: too little for an
    # answer as large as the index itself.
    await add_entry(app, bot, "When are you open?", "Always" + "." * size)
    cache = KnowledgeIndexCache(bot_max_bytes=4 * size)
    async with app.state.sessionmaker() as session:
        index = await cache.index_for(session, bot)
    refund, hours = (index.rank(question)[0].id for question in ("refund", "open"))
    assert cache.answer(bot.id, index, refund) == "Ask billing."
    assert cache.answer(bot.id, index, hours) is None  # over the share: read it instead
    assert cache.bytes == index.estimated_bytes + sys.getsizeof("Ask billing.") + ANSWER_OVERHEAD

    async with app.state.sessionmaker() as session:
        entry = await session.get(KnowledgeEntry, refund)
        assert entry is not None
        entry.answer = "Write to billing."  # its updated_at unchanged: the version moves
        await session.commit()
    async with app.state.sessionmaker() as session:
        rebuilt = await cache.index_for(session, bot)
    assert rebuilt is not index
    assert cache.answer(bot.id, rebuilt, refund) == "Write to billing."
    assert cache.answer(bot.id, index, refund) is None  # an older index's answers are gone


async def test_concurrent_messages_share_one_build_made_off_the_event_loop(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await make_bot(app, await make_org(app))
    await add_entry(app, bot, "How do I get a refund?", "Ask billing.")
    threads: list[str] = []
    add = IndexBuilder.add

    def recording_add(builder: IndexBuilder, documents: Sequence[Document]) -> bool:
        threads.append(threading.current_thread().name)
        time.sleep(0.2)  # a slow build, so the other requests arrive while it runs
        return add(builder, documents)

    monkeypatch.setattr(IndexBuilder, "add", recording_add)
    cache = KnowledgeIndexCache()

    async def one() -> object:
        async with app.state.sessionmaker() as session:
            return await cache.index_for(session, bot)

    indexes = await asyncio.gather(*(one() for _ in range(5)))
    assert cache.builds == 1
    assert all(index is indexes[0] for index in indexes)
    assert threads == ["knowledge-index_0"]


async def test_a_cancelled_build_is_taken_over_by_the_next_waiter(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await make_bot(app, await make_org(app))
    await add_entry(app, bot, "How do I get a refund?", "Ask billing.")
    add = IndexBuilder.add

    def slow_add(builder: IndexBuilder, documents: Sequence[Document]) -> bool:
        time.sleep(0.2)
        return add(builder, documents)

    monkeypatch.setattr(IndexBuilder, "add", slow_add)
    cache = KnowledgeIndexCache()

    async def one() -> KnowledgeIndex:
        async with app.state.sessionmaker() as session:
            return await cache.index_for(session, bot)

    leader = asyncio.create_task(one())
    await asyncio.sleep(0.05)
    follower = asyncio.create_task(one())
    await asyncio.sleep(0.05)
    leader.cancel()
    index = await follower
    assert leader.cancelled()
    assert index.rank("refund") != []
    assert cache.builds == 1


async def test_an_evicted_index_is_freed_on_the_index_thread(app: FastAPI) -> None:
    """Freeing a large index takes milliseconds of the interpreter: not the event loop's."""
    bot = await make_bot(app, await make_org(app))
    await add_entry(app, bot, "How do I get a refund?", "Ask billing.")
    cache = KnowledgeIndexCache()
    async with app.state.sessionmaker() as session:
        index = await cache.index_for(session, bot)
    freed_on: list[str] = []
    weakref.finalize(index, lambda: freed_on.append(threading.current_thread().name))
    del index
    cache.evict(bot.id)
    assert cache.bytes == 0
    await cache._in_thread(lambda: None)  # the thread has run everything queued before
    assert freed_on == ["knowledge-index_0"]


async def test_a_build_waits_for_the_event_loop_between_slices() -> None:
    """The index thread goes on only once the loop has run what was ready: requests first."""
    loop = asyncio.get_running_loop()
    waiting = threading.Thread(target=_wait_for_the_loop, args=(loop,))
    waiting.start()
    waiting.join(timeout=0.2)  # the loop is blocked meanwhile: the thread cannot go on
    assert waiting.is_alive()
    await asyncio.sleep(0.01)  # the loop's turn
    waiting.join(timeout=5)
    assert not waiting.is_alive()
