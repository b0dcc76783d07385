"""Conversations over the API: the welcome, real replies, closing, listing and filters."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from botyard.bots.knowledge_index import knowledge_indexes
from botyard.bots.models import DEFAULT_WELCOME
from botyard.core.clock import FrozenClock
from botyard.core.timefmt import rfc3339
from tests.bots.factories import (
    MISSING_BOT,
    MISSING_CONVERSATION,
    add_knowledge,
    assert_not_found,
    assert_validation_error,
    create_bot,
    org_with_key,
    send,
    start_conversation,
    walk,
)
from tests.factories import auth, make_key

REFUND_ANSWER = "Write to billing@example.com within 30 days and we refund you in full."
HOURS_ANSWER = "We are open Monday to Friday, 9:00 to 18:00."


async def support_bot(
    client: httpx.AsyncClient, headers: dict[str, str], **settings: object
) -> tuple[dict[str, object], dict[str, object], dict[str, object]]:
    """A bot with two entries; returns the bot, the refund entry and the hours entry."""
    bot = await create_bot(
        client,
        headers,
        welcome_message="Hello from support!",
        fallback_message="No idea, sorry.",
        **settings,
    )
    refund = await add_knowledge(
        client, headers, str(bot["id"]), "How do I get a refund?", REFUND_ANSWER, ["billing"]
    )
    hours = await add_knowledge(
        client, headers, str(bot["id"]), "What are your opening hours?", HOURS_ANSWER
    )
    return bot, refund, hours


async def test_a_conversation_opens_with_the_welcome_message(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    _, headers = await org_with_key(app)
    bot, _, _ = await support_bot(client, headers)
    conversation = await start_conversation(client, headers, str(bot["id"]), external_user_id="u-1")
    now = rfc3339(frozen_clock.now())
    welcome = conversation.pop("messages")
    assert conversation == {
        "object": "conversation",
        "id": conversation["id"],
        "bot_id": bot["id"],
        "external_user_id": "u-1",
        "status": "open",
        "created_at": now,
        "updated_at": now,
        "closed_at": None,
    }
    assert conversation["id"].startswith("conv_")
    assert [(m["role"], m["text"], m["answer_source"]) for m in welcome] == [
        ("bot", "Hello from support!", "welcome")
    ]
    messages = await client.get(f"/v1/conversations/{conversation['id']}/messages", headers=headers)
    assert messages.json()["data"] == welcome
    assert welcome[0] | {"id": "x"} == {
        "object": "message",
        "id": "x",
        "conversation_id": conversation["id"],
        "role": "bot",
        "text": "Hello from support!",
        "answer_source": "welcome",
        "knowledge_id": None,
        "score": None,
        "created_at": now,
    }
    fetched = await client.get(f"/v1/conversations/{conversation['id']}", headers=headers)
    assert fetched.json() == conversation


async def test_external_user_id_is_optional(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, headers = await org_with_key(app)
    bot = await create_bot(client, headers)
    response = await client.post(f"/v1/bots/{bot['id']}/conversations", headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["external_user_id"] is None
    assert response.json()["messages"][0]["text"] == DEFAULT_WELCOME


async def test_the_bot_answers_from_its_knowledge(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, headers = await org_with_key(app)
    bot, refund, _ = await support_bot(client, headers)
    conversation = await start_conversation(client, headers, str(bot["id"]))
    exchange = await send(client, headers, conversation["id"], "  can I get my money back?  ")
    assert exchange["object"] == "exchange"
    assert exchange["conversation_id"] == conversation["id"]
    message, reply = exchange["message"], exchange["reply"]
    assert (message["role"], message["text"], message["answer_source"]) == (
        "user",
        "can I get my money back?",
        None,
    )
    assert message["knowledge_id"] is None and message["score"] is None
    assert (reply["role"], reply["text"], reply["answer_source"], reply["knowledge_id"]) == (
        "bot",
        REFUND_ANSWER,
        "knowledge",
        refund["id"],
    )
    assert 0.5 <= reply["score"] <= 1
    listed = await client.get(f"/v1/conversations/{conversation['id']}/messages", headers=headers)
    assert [m["id"] for m in listed.json()["data"]] == [
        conversation["messages"][0]["id"],
        message["id"],
        reply["id"],
    ]


async def test_an_unrelated_question_gets_the_fallback(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _, headers = await org_with_key(app)
    bot, _, _ = await support_bot(client, headers)
    conversation = await start_conversation(client, headers, str(bot["id"]))
    reply = (await send(client, headers, conversation["id"], "how tall is mount everest"))["reply"]
    assert (reply["text"], reply["answer_source"], reply["knowledge_id"]) == (
        "No idea, sorry.",
        "fallback",
        None,
    )
    assert reply["score"] == 0


async def test_a_weak_match_below_the_threshold_falls_back_with_its_score(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _, headers = await org_with_key(app)
    bot, refund, _ = await support_bot(client, headers)
    conversation = await start_conversation(client, headers, str(bot["id"]))
    question = "refund for my flight"
    first = (await send(client, headers, conversation["id"], question))["reply"]
    assert first["answer_source"] == "fallback"
    assert 0 < first["score"] < 0.5
    await client.patch(
        f"/v1/bots/{bot['id']}/settings", json={"answer_threshold": 0.25}, headers=headers
    )
    second = (await send(client, headers, conversation["id"], question))["reply"]
    assert (second["answer_source"], second["knowledge_id"]) == ("knowledge", refund["id"])
    assert second["score"] == first["score"]


async def test_knowledge_changes_reach_the_next_reply(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The cached index of a bot is rebuilt when its knowledge changes, not served stale."""
    _, headers = await org_with_key(app)
    bot, refund, _ = await support_bot(client, headers)
    conversation = await start_conversation(client, headers, str(bot["id"]))
    builds = knowledge_indexes.builds
    assert (await send(client, headers, conversation["id"], "refund please"))["reply"][
        "answer_source"
    ] == "knowledge"
    assert (await send(client, headers, conversation["id"], "opening hours?"))["reply"][
        "answer_source"
    ] == "knowledge"
    assert knowledge_indexes.builds - builds <= 1

    question = "is there a discount for students"
    assert (await send(client, headers, conversation["id"], question))["reply"][
        "answer_source"
    ] == "fallback"
    discount = await add_knowledge(
        client, headers, str(bot["id"]), "Do you offer a student discount?", "Yes, 50% off."
    )
    reply = (await send(client, headers, conversation["id"], question))["reply"]
    assert (reply["knowledge_id"], reply["text"]) == (discount["id"], "Yes, 50% off.")

    await client.patch(
        f"/v1/bots/{bot['id']}/knowledge/{discount['id']}",
        json={"answer": "Yes, 30% off."},
        headers=headers,
    )
    assert (await send(client, headers, conversation["id"], question))["reply"][
        "text"
    ] == "Yes, 30% off."
    await client.delete(f"/v1/bots/{bot['id']}/knowledge/{discount['id']}", headers=headers)
    assert (await send(client, headers, conversation["id"], question))["reply"][
        "answer_source"
    ] == "fallback"
    await client.delete(f"/v1/bots/{bot['id']}/knowledge/{refund['id']}", headers=headers)
    assert (await send(client, headers, conversation["id"], "refund please"))["reply"][
        "answer_source"
    ] == "fallback"


async def test_a_bot_without_knowledge_always_falls_back(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _, headers = await org_with_key(app)
    bot = await create_bot(client, headers, fallback_message="Nothing yet.")
    conversation = await start_conversation(client, headers, str(bot["id"]))
    reply = (await send(client, headers, conversation["id"], "refund"))["reply"]
    assert (reply["text"], reply["answer_source"], reply["score"]) == (
        "Nothing yet.",
        "fallback",
        0,
    )


async def test_the_bots_language_drives_the_ranking(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _, headers = await org_with_key(app)
    bot = await create_bot(client, headers, language="fr")
    entry = await add_knowledge(
        client, headers, str(bot["id"]), "Comment obtenir un remboursement ?", "Écrivez-nous."
    )
    conversation = await start_conversation(client, headers, str(bot["id"]))
    reply = (await send(client, headers, conversation["id"], "Je veux être remboursé"))["reply"]
    assert (reply["answer_source"], reply["knowledge_id"]) == ("knowledge", entry["id"])


async def test_a_paused_bot_refuses_new_conversations_and_replies(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _, headers = await org_with_key(app)
    bot, _, _ = await support_bot(client, headers)
    conversation = await start_conversation(client, headers, str(bot["id"]))
    await client.patch(f"/v1/bots/{bot['id']}", json={"status": "paused"}, headers=headers)
    refused = await client.post(f"/v1/bots/{bot['id']}/conversations", json={}, headers=headers)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "bot_paused"
    refused = await client.post(
        f"/v1/conversations/{conversation['id']}/messages", json={"text": "hi"}, headers=headers
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "bot_paused"
    await client.patch(f"/v1/bots/{bot['id']}", json={"status": "active"}, headers=headers)
    await send(client, headers, conversation["id"], "refund")


async def test_a_closed_conversation_refuses_messages(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    _, headers = await org_with_key(app)
    bot, _, _ = await support_bot(client, headers)
    conversation = await start_conversation(client, headers, str(bot["id"]))
    frozen_clock.advance(timedelta(minutes=3))
    closed = await client.patch(
        f"/v1/conversations/{conversation['id']}", json={"status": "closed"}, headers=headers
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"
    assert closed.json()["closed_at"] == rfc3339(frozen_clock.now())
    assert closed.json()["updated_at"] == rfc3339(frozen_clock.now())

    refused = await client.post(
        f"/v1/conversations/{conversation['id']}/messages", json={"text": "refund"}, headers=headers
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["type"] == "conflict"
    assert refused.json()["error"]["code"] == "conversation_closed"
    messages = await client.get(f"/v1/conversations/{conversation['id']}/messages", headers=headers)
    assert len(messages.json()["data"]) == 1

    frozen_clock.advance(timedelta(minutes=3))
    again = await client.patch(
        f"/v1/conversations/{conversation['id']}", json={"status": "closed"}, headers=headers
    )
    assert again.json() == closed.json()


@pytest.mark.parametrize(
    ("body", "param"),
    [({}, "status"), ({"status": "open"}, "status"), ({"status": "closed", "x": 1}, "x")],
)
async def test_close_validation(
    app: FastAPI, client: httpx.AsyncClient, body: dict[str, object], param: str
) -> None:
    _, headers = await org_with_key(app)
    bot = await create_bot(client, headers)
    conversation = await start_conversation(client, headers, str(bot["id"]))
    response = await client.patch(
        f"/v1/conversations/{conversation['id']}", json=body, headers=headers
    )
    assert_validation_error(response, param)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "text"),
        ({"text": ""}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "x" * 4001}, "text"),
        ({"text": "hi", "role": "bot"}, "role"),
    ],
)
async def test_message_validation(
    app: FastAPI, client: httpx.AsyncClient, body: dict[str, object], param: str
) -> None:
    _, headers = await org_with_key(app)
    bot = await create_bot(client, headers)
    conversation = await start_conversation(client, headers, str(bot["id"]))
    response = await client.post(
        f"/v1/conversations/{conversation['id']}/messages", json=body, headers=headers
    )
    assert_validation_error(response, param)


async def test_start_validation(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, headers = await org_with_key(app)
    bot = await create_bot(client, headers)
    path = f"/v1/bots/{bot['id']}/conversations"
    for body, param in [
        ({"external_user_id": ""}, "external_user_id"),
        ({"external_user_id": "u" * 201}, "external_user_id"),
        ({"user": "u-1"}, "user"),
    ]:
        assert_validation_error(await client.post(path, json=body, headers=headers), param)


async def test_messages_are_paginated_oldest_first(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    """The clock stands still, yet the transcript keeps the order it was written in."""
    _, headers = await org_with_key(app)
    bot, _, _ = await support_bot(client, headers)
    conversation = await start_conversation(client, headers, str(bot["id"]))
    expected = [conversation["messages"][0]["id"]]
    for i in range(6):
        exchange = await send(client, headers, conversation["id"], f"question number {i}")
        expected += [exchange["message"]["id"], exchange["reply"]["id"]]
    walked = await walk(
        client, headers, f"/v1/conversations/{conversation['id']}/messages", limit=4
    )
    assert [m["id"] for m in walked] == expected
    assert [m["role"] for m in walked] == ["bot"] + ["user", "bot"] * 6
    assert walked[1]["text"] == "question number 0"


async def test_list_filters_by_bot_status_and_time(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    _, other_headers = await org_with_key(app)
    await start_conversation(
        client, other_headers, str((await create_bot(client, other_headers))["id"])
    )
    _, headers = await org_with_key(app)
    first_bot = await create_bot(client, headers)
    second_bot = await create_bot(client, headers)
    start = frozen_clock.now()
    ids = []
    for hour in range(6):
        frozen_clock.set(start + timedelta(hours=hour))
        bot = first_bot if hour % 2 == 0 else second_bot
        ids.append((await start_conversation(client, headers, str(bot["id"])))["id"])
    for closed in (ids[0], ids[3]):
        await client.patch(
            f"/v1/conversations/{closed}", json={"status": "closed"}, headers=headers
        )

    async def listed(**params: object) -> list[str]:
        return [c["id"] for c in await walk(client, headers, "/v1/conversations", 2, **params)]

    assert await listed() == ids[::-1]
    assert await listed(bot_id=first_bot["id"]) == [ids[4], ids[2], ids[0]]
    assert await listed(status="closed") == [ids[3], ids[0]]
    assert await listed(status="open", bot_id=second_bot["id"]) == [ids[5], ids[1]]
    since, until = rfc3339(start + timedelta(hours=2)), rfc3339(start + timedelta(hours=4))
    assert await listed(since=since) == [ids[5], ids[4], ids[3], ids[2]]
    assert await listed(until=until) == [ids[3], ids[2], ids[1], ids[0]]
    assert await listed(since=since, until=until) == [ids[3], ids[2]]
    assert await listed(bot_id=MISSING_BOT) == []

    for params, param in [
        ({"status": "archived"}, "status"),
        ({"since": "yesterday"}, "since"),
        ({"since": until, "until": since}, "since"),
    ]:
        response = await client.get("/v1/conversations", params=params, headers=headers)
        assert_validation_error(response, param)


async def test_time_filters_at_the_ends_of_the_calendar(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Bounds no conversation can be outside of filter nothing out instead of failing."""
    _, headers = await org_with_key(app)
    bot = await create_bot(client, headers)
    conversation = await start_conversation(client, headers, str(bot["id"]))
    for params in (
        {"since": "0001-01-01T00:00:00+05:00", "until": "9999-12-31T23:59:59-05:00"},
        {"since": "1900-01-01T00:00:00Z", "until": "9500-01-01T00:00:00"},
    ):
        response = await client.get("/v1/conversations", params=params, headers=headers)
        assert response.status_code == 200, response.text
        assert [c["id"] for c in response.json()["data"]] == [conversation["id"]]
    nothing = await client.get(
        "/v1/conversations",
        params={"since": "9500-01-01T00:00:00Z", "until": "9600-01-01T00:00:00Z"},
        headers=headers,
    )
    assert nothing.json()["data"] == []


async def test_conversations_of_another_organization_are_invisible(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _, other_headers = await org_with_key(app)
    other_bot, _, _ = await support_bot(client, other_headers)
    foreign = await start_conversation(client, other_headers, str(other_bot["id"]))
    _, headers = await org_with_key(app)
    requests = [
        ("GET", "/v1/conversations/{id}", None),
        ("GET", "/v1/conversations/{id}/messages", None),
        ("POST", "/v1/conversations/{id}/messages", {"text": "refund"}),
        ("PATCH", "/v1/conversations/{id}", {"status": "closed"}),
    ]
    for method, path, body in requests:
        answers = []
        for conversation_id in (foreign["id"], MISSING_CONVERSATION):
            response = await client.request(
                method, path.format(id=conversation_id), json=body, headers=headers
            )
            assert_not_found(response, "conversation_id")
            answers.append(response.json()["error"] | {"request_id": None})
        assert answers[0] == answers[1]
    assert_not_found(
        await client.post(f"/v1/bots/{other_bot['id']}/conversations", json={}, headers=headers),
        "bot_id",
    )
    assert (await client.get("/v1/conversations", headers=headers)).json()["data"] == []
    still = await client.get(f"/v1/conversations/{foreign['id']}", headers=other_headers)
    assert still.json()["status"] == "open"
    transcript = await client.get(
        f"/v1/conversations/{foreign['id']}/messages", headers=other_headers
    )
    assert len(transcript.json()["data"]) == 1


async def test_reading_needs_read_and_chatting_needs_write(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org, headers = await org_with_key(app)
    bot = await create_bot(client, headers)
    conversation = await start_conversation(client, headers, str(bot["id"]))
    _, read_key = await make_key(app, org, ["read"])
    reader = auth(read_key)
    assert (await client.get("/v1/conversations", headers=reader)).status_code == 200
    path = f"/v1/conversations/{conversation['id']}"
    assert (await client.get(f"{path}/messages", headers=reader)).status_code == 200
    for method, url, body in [
        ("POST", f"/v1/bots/{bot['id']}/conversations", {}),
        ("POST", f"{path}/messages", {"text": "hi"}),
        ("PATCH", path, {"status": "closed"}),
    ]:
        response = await client.request(method, url, json=body, headers=reader)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "missing_scope"


async def test_message_ids_sort_by_when_they_were_written(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A message id starts with its millisecond, so new messages land at the end of the id
    index (one page written per exchange, not one random page per message); the ids keep
    the format every id has."""
    _, headers = await org_with_key(app)
    bot = await create_bot(client, headers)
    conversation = await start_conversation(client, headers, str(bot["id"]))
    ids = []
    for text in ("first", "second", "third"):
        exchange = await send(client, headers, str(conversation["id"]), text)
        ids.append(exchange["message"]["id"])
        await asyncio.sleep(0.002)  # the next exchange a millisecond later at least
    assert ids == sorted(ids)
    assert all(len(i) == len("msg_") + 20 and i.startswith("msg_") for i in ids)


async def test_deleting_a_bot_or_its_organization_deletes_the_messages(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A message's organization and bot are copies of its conversation's (no foreign keys
    of their own): the messages go with the conversation, which goes with either."""
    from sqlalchemy import delete, func, select

    from botyard.conversations.models import Message
    from botyard.organizations.models import Organization

    org, headers = await org_with_key(app)
    bots = [await create_bot(client, headers) for _ in range(2)]
    for bot in bots:
        conversation = await start_conversation(client, headers, bot["id"])
        url = f"/v1/conversations/{conversation['id']}/messages"
        assert (await client.post(url, json={"text": "hi"}, headers=headers)).status_code == 201

    async def messages(**where: str) -> int:
        conditions = [getattr(Message, column) == value for column, value in where.items()]
        async with app.state.sessionmaker() as session:
            return int(await session.scalar(select(func.count()).where(*conditions)) or 0)

    each = await messages(bot_id=bots[0]["id"])
    assert each >= 2  # the exchange, and a welcome message if the bot has one
    assert (await client.delete(f"/v1/bots/{bots[0]['id']}", headers=headers)).status_code == 200
    assert await messages(bot_id=bots[0]["id"]) == 0
    assert await messages(organization_id=org.id) == each
    # The shared app's request log holds this organization's requests: written first, they
    # do not reference a deleted key when the next test flushes the log.
    await app.state.request_log.flush()
    async with app.state.sessionmaker() as session:
        await session.execute(delete(Organization).where(Organization.id == org.id))
        await session.commit()
    assert await messages(organization_id=org.id) == 0
