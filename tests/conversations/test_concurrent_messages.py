"""Messages sent to one conversation at the same time are stored one exchange after another.

Each request reads the conversation, ranks its reply, then writes; the writes derive the new
messages' times from the conversation's ``updated_at`` as the update finds it (see
``conversations.service._store_exchange``). The tests hold every request between its read and
its write, with the clock frozen so that only that chaining can order them. Through the API
the read takes the row's lock (PostgreSQL) or SQLite's write lock, so the others wait at
their read until the holder commits (the hold gives up after a moment) and read its result;
in a session (the widget's and the dashboard's way) SQLite's read takes no lock, so all of
them read the same ``updated_at`` and the update's compare-and-set orders them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, select

from botyard.conversations import service
from botyard.conversations.models import Conversation, Message
from botyard.core.clock import FrozenClock
from tests.bots.factories import add_knowledge, create_bot, org_with_key, start_conversation

WORDS = ("refund", "invoice", "password", "shipping", "export", "billing")
HOLD = 0.3
"""Seconds a held request waits for the others before it writes regardless."""


def hold_replies(
    monkeypatch: pytest.MonkeyPatch, before_write: Callable[[], Awaitable[None]]
) -> None:
    """Make every message wait in ``before_write`` once its reply is chosen."""
    choose = service.choose_reply

    async def held(*args: Any, **kwargs: Any) -> service.Reply:
        reply = await choose(*args, **kwargs)
        await before_write()
        return reply

    monkeypatch.setattr(service, "choose_reply", held)


@pytest.mark.parametrize("through", ["api", "session"])
async def test_concurrent_messages_keep_their_order_and_count(
    app: FastAPI,
    client: httpx.AsyncClient,
    frozen_clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
    through: str,
) -> None:
    org, headers = await org_with_key(app)
    bot = await create_bot(client, headers)
    for word in WORDS:
        await add_knowledge(client, headers, bot["id"], f"Question about {word}", f"Answer {word}")
    conversation = await start_conversation(client, headers, bot["id"])
    arrived = 0
    everyone_read = asyncio.Event()

    async def barrier() -> None:
        nonlocal arrived
        arrived += 1
        if arrived == len(WORDS):
            everyone_read.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(everyone_read.wait(), HOLD)

    async def send(word: str) -> dict[str, Any]:
        text = f"question about {word}"
        if through == "api":
            response = await client.post(
                f"/v1/conversations/{conversation['id']}/messages",
                json={"text": text},
                headers=headers,
            )
            assert response.status_code == 201, response.text
            exchange: dict[str, Any] = response.json()
            return exchange
        async with app.state.sessionmaker() as session:
            asked, answer = await service.send_message(session, org.id, conversation["id"], text)
            await session.commit()
        return {"message": asked.model_dump(mode="json"), "reply": answer.model_dump(mode="json")}

    hold_replies(monkeypatch, barrier)
    exchanges_sent = await asyncio.gather(*(send(word) for word in WORDS))

    listed = await client.get(
        f"/v1/conversations/{conversation['id']}/messages?limit=100", headers=headers
    )
    messages = listed.json()["data"]
    assert len(messages) == 1 + 2 * len(WORDS)
    times = [m["created_at"] for m in messages]
    async with app.state.sessionmaker() as session:
        stored = (
            await session.execute(
                select(Message.created_at)
                .where(Message.conversation_id == conversation["id"])
                .order_by(Message.created_at, Message.id)
            )
        ).scalars()
        exact = list(stored)
        updated_at = await session.scalar(
            select(Conversation.updated_at).where(Conversation.id == conversation["id"])
        )
    assert exact == sorted(set(exact)), "two messages share a time"
    assert updated_at == exact[-1]
    assert times == sorted(times)
    exchanges = messages[1:]
    for asked, answer in zip(exchanges[::2], exchanges[1::2], strict=True):
        assert (asked["role"], answer["role"]) == ("user", "bot")
        word = asked["text"].removeprefix("question about ")
        assert answer["text"] == f"Answer {word}", "a reply is stored beside another question"
    by_id = {m["id"]: m for m in messages}
    for exchange in exchanges_sent:
        assert by_id[exchange["message"]["id"]] == exchange["message"]
        assert by_id[exchange["reply"]["id"]] == exchange["reply"]


async def test_a_message_racing_a_close_never_lands_after_it(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The close is sent between the message's read and its write. The message's read holds
    the row (PostgreSQL) or SQLite's write lock, so the close waits and lands after the
    exchange; a close that came first would refuse the message (409) with nothing stored.
    Never a message after the close."""
    _, headers = await org_with_key(app)
    bot = await create_bot(client, headers)
    conversation = await start_conversation(client, headers, bot["id"])
    closing: list[asyncio.Task[httpx.Response]] = []

    async def close_meanwhile() -> None:
        closing.append(
            asyncio.create_task(
                client.patch(
                    f"/v1/conversations/{conversation['id']}",
                    json={"status": "closed"},
                    headers=headers,
                )
            )
        )
        await asyncio.wait(closing, timeout=HOLD)

    hold_replies(monkeypatch, close_meanwhile)
    response = await client.post(
        f"/v1/conversations/{conversation['id']}/messages",
        json={"text": "anyone there?"},
        headers=headers,
    )
    closed = await closing[0]
    assert closed.status_code == 200, closed.text
    async with app.state.sessionmaker() as session:
        stored = (
            await session.scalars(
                select(Message.created_at).where(Message.conversation_id == conversation["id"])
            )
        ).all()
        closed_at = await session.scalar(
            select(Conversation.closed_at).where(Conversation.id == conversation["id"])
        )
    if response.status_code == 409:
        assert response.json()["error"]["code"] == "conversation_closed"
        assert len(stored) == 1  # the welcome only
    else:
        assert response.status_code == 201, response.text
        assert len(stored) == 3
        assert closed_at is not None and max(stored) <= closed_at


async def test_a_message_costs_one_read_and_its_writes_when_no_webhook_listens(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """One read (conversation, bot, knowledge version, whether any endpoint listens), the
    conversation's update, one insert of both messages and the addition to the analytics
    counters (on PostgreSQL the three writes are one statement): no query per webhook event,
    no ORM flush, no separate bot or version lookup, and the answer's text comes with the
    cached index."""
    _, headers = await org_with_key(app)
    bot = await create_bot(client, headers)
    await add_knowledge(client, headers, bot["id"], "How do I get a refund?", "Ask billing.")
    conversation = await start_conversation(client, headers, bot["id"])
    url = f"/v1/conversations/{conversation['id']}/messages"
    assert (await client.post(url, json={"text": "refund"}, headers=headers)).status_code == 201
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(" ".join(args[2].split())[:60])

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        response = await client.post(url, json={"text": "a refund please"}, headers=headers)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert response.json()["reply"]["text"] == "Ask billing."
    expected = ["SELECT conversations.id,"]
    if app.state.engine.dialect.name == "postgresql":
        expected.append("WITH moved AS (UPDATE conversations SET ")
    else:
        expected += [
            "UPDATE conversations SET ",
            "INSERT INTO messages ",
            "INSERT INTO analytics_message_hours ",
        ]
    assert len(statements) == len(expected), statements
    assert all(s.startswith(e) for s, e in zip(statements, expected, strict=True)), statements
