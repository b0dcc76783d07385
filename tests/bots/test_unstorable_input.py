"""Input PostgreSQL cannot store (NUL) or no id can contain is a 4xx, never a server error.

A NUL anywhere is refused before routing (400 ``invalid_characters`` naming the parameter or
field, see ``tests/security/test_17_12_crafted_input.py`` for every route); an id with characters
no id has is simply not found."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.bots.factories import (
    add_knowledge,
    assert_not_found,
    assert_validation_error,
    create_bot,
    org_with_key,
    start_conversation,
)


async def test_ids_that_cannot_exist_are_404(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, headers = await org_with_key(app)
    response = await client.get("/v1/bots/bot_%C3%A9/settings", headers=headers)
    assert_not_found(response, "bot_id")


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/v1/bots/bot_a%00b", "bot_id"),
        ("/v1/bots/{bot}/knowledge/kb_%00", "kb_id"),
        ("/v1/conversations/conv_%00", "conversation_id"),
        ("/v1/conversations/conv_%00/messages", "conversation_id"),
        ("/v1/analytics?bot_id=%00", "bot_id"),
        ("/v1/conversations?bot_id=%00", "bot_id"),
    ],
)
async def test_ids_with_a_nul_are_refused(
    app: FastAPI, client: httpx.AsyncClient, path: str, param: str
) -> None:
    _, headers = await org_with_key(app)
    bot = await create_bot(client, headers)
    response = await client.get(path.format(bot=bot["id"]), headers=headers)
    assert_unstorable(response, param)


def assert_unstorable(response: httpx.Response, param: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("invalid_characters", param)
    assert "NUL" in error["message"]


@pytest.mark.parametrize(
    ("target", "body", "param", "message"),
    [
        ("bots", {"name": "a\x00b"}, "name", "NUL"),
        ("bots", {"name": "ok", "description": "\x00"}, "description", "NUL"),
        ("knowledge", {"question": "q\x00", "answer": "a"}, "question", "NUL"),
        ("knowledge", {"question": "q", "answer": " \n\t "}, "answer", "whitespace"),
        ("knowledge", {"question": "q", "answer": "a", "tags": ["\x00"]}, "tags.0", "NUL"),
        ("conversations", {"external_user_id": "u\x00"}, "external_user_id", "NUL"),
        ("messages", {"text": "hi\x00"}, "text", "NUL"),
    ],
)
async def test_nul_characters_in_text_are_refused(
    app: FastAPI,
    client: httpx.AsyncClient,
    target: str,
    body: dict[str, object],
    param: str,
    message: str,
) -> None:
    _, headers = await org_with_key(app)
    bot = await create_bot(client, headers)
    await add_knowledge(client, headers, bot["id"], "Q?", "A.")
    conversation = await start_conversation(client, headers, bot["id"])
    path = {
        "bots": "/v1/bots",
        "knowledge": f"/v1/bots/{bot['id']}/knowledge",
        "conversations": f"/v1/bots/{bot['id']}/conversations",
        "messages": f"/v1/conversations/{conversation['id']}/messages",
    }[target]
    response = await client.post(path, json=body, headers=headers)
    if message == "NUL":
        assert_unstorable(response, param)
    else:
        assert_validation_error(response, param)
        assert message in response.json()["error"]["message"]
