"""Bots in the dashboard: create, settings, knowledge, and a test conversation."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from botyard.bots.models import Bot, KnowledgeEntry
from botyard.conversations.models import Message
from tests.dashboard.helpers import login
from tests.factories import make_bot, make_org, make_user

BOT_URL = re.compile(r"/dashboard/bots/(bot_[0-9A-Za-z]+)")


async def add_entry(
    client: httpx.AsyncClient, csrf: str, bot_id: str, question: str, answer: str, tags: str = ""
) -> None:
    response = await client.post(
        f"/dashboard/bots/{bot_id}/knowledge",
        data={"csrf_token": csrf, "question": question, "answer": answer, "tags": tags},
    )
    assert response.status_code == 303, response.text


async def test_create_configure_teach_and_try_a_bot(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    csrf = await login(client, await make_user(app, org, "member"))
    created = await client.post(
        "/dashboard/bots", data={"csrf_token": csrf, "name": "Helpdesk", "description": "FAQ"}
    )
    assert created.status_code == 303
    match = BOT_URL.search(created.headers["location"])
    assert match
    bot_id = match.group(1)

    saved = await client.post(
        f"/dashboard/bots/{bot_id}/settings",
        data={
            "csrf_token": csrf,
            "name": "Helpdesk",
            "description": "FAQ",
            "status": "active",
            "welcome_message": "Hello from Helpdesk!",
            "fallback_message": "No idea, sorry.",
            "language": "en",
            "answer_threshold": "0.4",
        },
    )
    assert saved.status_code == 303
    await add_entry(
        client, csrf, bot_id, "What are your opening hours?", "We open 9 to 5.", "hours, support"
    )
    await add_entry(client, csrf, bot_id, "Where is the office?", "In Lisbon.")

    asked = await client.post(
        f"/dashboard/bots/{bot_id}/try",
        data={"csrf_token": csrf, "message": "when are you open? opening hours"},
    )
    assert asked.status_code == 303
    page = await client.get(asked.headers["location"])
    assert "Hello from Helpdesk!" in page.text
    assert "We open 9 to 5." in page.text
    assert '<span class="badge knowledge">knowledge</span>' in page.text
    assert re.search(r'score <strong class="score">\d\.\d\d</strong>', page.text)

    conversation_id = re.search(r'name="conversation_id" value="([^"]+)"', page.text)
    assert conversation_id
    followup = await client.post(
        f"/dashboard/bots/{bot_id}/try",
        data={
            "csrf_token": csrf,
            "message": "do you sell bicycles",
            "conversation_id": conversation_id.group(1),
        },
    )
    page = await client.get(followup.headers["location"])
    assert "No idea, sorry." in page.text
    assert '<span class="badge fallback">fallback</span>' in page.text
    async with app.state.sessionmaker() as session:
        messages = (
            await session.scalars(
                select(Message).where(Message.conversation_id == conversation_id.group(1))
            )
        ).all()
        bot = await session.get(Bot, bot_id)
    assert [m.role for m in sorted(messages, key=lambda m: m.created_at)] == [
        "bot",
        "user",
        "bot",
        "user",
        "bot",
    ]
    assert bot is not None and bot.answer_threshold == 0.4
    assert bot.welcome_message == "Hello from Helpdesk!"


async def test_knowledge_entries_can_be_edited_and_deleted(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    bot = await make_bot(app, org)
    csrf = await login(client, await make_user(app, org, "admin"))
    await add_entry(client, csrf, bot.id, "Old question?", "Old answer.", "a, b, a")
    async with app.state.sessionmaker() as session:
        [entry] = (
            await session.scalars(select(KnowledgeEntry).where(KnowledgeEntry.bot_id == bot.id))
        ).all()
    assert entry.tags == ["a", "b"]
    form = await client.get(f"/dashboard/bots/{bot.id}/knowledge/{entry.id}")
    assert "Old answer." in form.text and 'value="a, b"' in form.text
    edited = await client.post(
        f"/dashboard/bots/{bot.id}/knowledge/{entry.id}",
        data={"csrf_token": csrf, "question": "New question?", "answer": "New answer.", "tags": ""},
    )
    assert edited.status_code == 303
    page = (await client.get(f"/dashboard/bots/{bot.id}")).text
    assert "New answer." in page and "Old answer." not in page
    deleted = await client.post(
        f"/dashboard/bots/{bot.id}/knowledge/{entry.id}/delete", data={"csrf_token": csrf}
    )
    assert deleted.status_code == 303
    assert "New answer." not in (await client.get(f"/dashboard/bots/{bot.id}")).text


async def test_invalid_settings_are_explained_and_change_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    bot = await make_bot(app, org, name="Stable")
    csrf = await login(client, await make_user(app, org, "owner"))
    response = await client.post(
        f"/dashboard/bots/{bot.id}/settings",
        data={
            "csrf_token": csrf,
            "name": "Renamed",
            "status": "active",
            "welcome_message": "Hi",
            "fallback_message": "Sorry",
            "language": "en",
            "answer_threshold": "1.5",
        },
    )
    assert response.status_code == 400
    assert "Answer threshold" in response.text
    async with app.state.sessionmaker() as session:
        stored = await session.get(Bot, bot.id)
    assert stored is not None and stored.name == "Stable"
    empty = await client.post(
        f"/dashboard/bots/{bot.id}/knowledge",
        data={"csrf_token": csrf, "question": "", "answer": "x"},
    )
    assert empty.status_code == 400
    assert "Question" in empty.text


async def test_a_paused_bot_cannot_be_tried(app: FastAPI, client: httpx.AsyncClient) -> None:
    org = await make_org(app)
    bot = await make_bot(app, org, status="paused")
    csrf = await login(client, await make_user(app, org, "owner"))
    page = await client.get(f"/dashboard/bots/{bot.id}")
    assert 'id="try-form"' not in page.text
    refused = await client.post(
        f"/dashboard/bots/{bot.id}/try", data={"csrf_token": csrf, "message": "hello"}
    )
    assert refused.status_code == 409
    assert "paused" in refused.text


async def test_bots_of_another_organization_are_not_found(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    theirs = await make_bot(app, await make_org(app), name="Private bot")
    csrf = await login(client, await make_user(app, await make_org(app), "owner"))
    assert "Private bot" not in (await client.get("/dashboard/bots")).text
    assert (await client.get(f"/dashboard/bots/{theirs.id}")).status_code == 404
    for path in (f"/dashboard/bots/{theirs.id}/try", f"/dashboard/bots/{theirs.id}/delete"):
        response = await client.post(path, data={"csrf_token": csrf, "message": "hi"})
        assert response.status_code == 404
    async with app.state.sessionmaker() as session:
        assert await session.get(Bot, theirs.id) is not None


async def test_deleting_a_bot_asks_first(app: FastAPI, client: httpx.AsyncClient) -> None:
    org = await make_org(app)
    bot = await make_bot(app, org)
    csrf = await login(client, await make_user(app, org, "owner"))
    confirm = await client.get(f"/dashboard/bots/{bot.id}/delete")
    assert "cannot be undone" in confirm.text
    done = await client.post(f"/dashboard/bots/{bot.id}/delete", data={"csrf_token": csrf})
    assert done.status_code == 303
    assert (await client.get(f"/dashboard/bots/{bot.id}")).status_code == 404


async def test_user_text_is_escaped(app: FastAPI, client: httpx.AsyncClient) -> None:
    org = await make_org(app)
    bot = await make_bot(app, org, name="<script>alert(1)</script>")
    await login(client, await make_user(app, org, "member"))
    for path in ("/dashboard/bots", f"/dashboard/bots/{bot.id}", "/dashboard/analytics"):
        page = (await client.get(path)).text
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
