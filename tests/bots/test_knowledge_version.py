"""bots.knowledge_version moves with every write of a bot's knowledge, whoever makes it.

The cached ranking index of a bot is keyed by it (with the language), in every process; the
tests use caches of their own, as another process would, so no in-process eviction helps.
"""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from botyard.bots.knowledge_index import KnowledgeIndexCache
from botyard.bots.models import Bot, KnowledgeEntry
from tests.bots.factories import add_knowledge, create_bot, org_with_key
from tests.factories import make_bot, make_org


async def version(app: FastAPI, bot_id: str) -> int:
    async with app.state.sessionmaker() as session:
        found = await session.scalar(select(Bot.knowledge_version).where(Bot.id == bot_id))
        assert found is not None
        return found


async def test_every_entry_write_through_the_api_moves_the_version_and_nothing_else(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _, headers = await org_with_key(app)
    bot = await create_bot(client, headers)
    url = f"/v1/bots/{bot['id']}"
    seen = [await version(app, bot["id"])]
    entry = await add_knowledge(client, headers, bot["id"], "How do I get a refund?", "Ask.")
    seen.append(await version(app, bot["id"]))
    edit = {"answer": "Ask billing."}
    changed = await client.patch(f"{url}/knowledge/{entry['id']}", json=edit, headers=headers)
    assert changed.status_code == 200
    seen.append(await version(app, bot["id"]))
    same = await client.patch(f"{url}/knowledge/{entry['id']}", json=edit, headers=headers)
    assert same.status_code == 200
    seen.append(await version(app, bot["id"]))  # nothing changed: no new version
    assert (await client.delete(f"{url}/knowledge/{entry['id']}", headers=headers)).is_success
    seen.append(await version(app, bot["id"]))
    assert seen == [0, 1, 2, 2, 3]
    # The version is no part of the bot as the API shows it, and moves none of its fields.
    shown = (await client.get(url, headers=headers)).json()
    assert shown == bot


async def test_a_cache_of_another_process_sees_orm_writes_the_clock_cannot_tell_apart(
    app: FastAPI,
) -> None:
    """An edit that leaves the count and the latest ``updated_at`` as they were (a frozen or
    coarse clock, a script writing rows itself) still reaches the next reply."""
    bot = await make_bot(app, await make_org(app))
    async with app.state.sessionmaker() as session:
        entry = KnowledgeEntry(
            organization_id=bot.organization_id, bot_id=bot.id, question="Refunds?", answer="No."
        )
        session.add(entry)
        await session.commit()
    elsewhere = KnowledgeIndexCache()
    async with app.state.sessionmaker() as session:
        before = await elsewhere.index_for(session, bot)
        assert elsewhere.answer(bot.id, before, entry.id) == "No."
        edited = await session.get(KnowledgeEntry, entry.id)
        assert edited is not None
        edited.answer = "Yes, within 30 days."
        await session.commit()
    async with app.state.sessionmaker() as session:
        after = await elsewhere.index_for(session, bot)
        assert elsewhere.answer(bot.id, after, entry.id) == "Yes, within 30 days."
        await session.delete(await session.get(KnowledgeEntry, entry.id))
        await session.commit()
    async with app.state.sessionmaker() as session:
        assert len(await elsewhere.index_for(session, bot)) == 0
    assert elsewhere.builds == 3
    assert await version(app, bot.id) == 3
