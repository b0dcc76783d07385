"""The per-process cache of knowledge indexes: reused while the knowledge stays the same."""

from __future__ import annotations

from fastapi import FastAPI

from botyard.bots.knowledge_index import KnowledgeIndexCache
from botyard.bots.models import Bot, KnowledgeEntry
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
