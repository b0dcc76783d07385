"""Input PostgreSQL cannot store (NUL) or no id can contain is a 4xx, never a server error."""

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


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/v1/bots/bot_a%00b", "bot_id"),
        ("/v1/bots/bot_%C3%A9/settings", "bot_id"),
        ("/v1/bots/{bot}/knowledge/kb_%00", "kb_id"),
        ("/v1/conversations/conv_%00", "conversation_id"),
        ("/v1/conversations/conv_%00/messages", "conversation_id"),
        ("/v1/analytics?bot_id=%00", "bot_id"),
    ],
)
async def test_ids_that_cannot_exist_are_404(
    app: FastAPI, client: httpx.AsyncClient, path: str, param: str
) -> None:
    _, headers = await org_with_key(app)
    bot = await create_bot(client, headers)
    response = await client.get(path.format(bot=bot["id"]), headers=headers)
    assert_not_found(response, param)


async def test_a_nul_bot_filter_lists_nothing(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, headers = await org_with_key(app)
    bot = await create_bot(client, headers)
    await start_conversation(client, headers, bot["id"])
    response = await client.get("/v1/conversations", params={"bot_id": "\x00"}, headers=headers)
    assert response.status_code == 200
    assert response.json()["data"] == []


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
    assert_validation_error(response, param)
    assert message in response.json()["error"]["message"]
