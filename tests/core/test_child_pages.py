"""Lists under a parent (a conversation's messages, a bot's knowledge) read the page first;
they must still answer 404 for a parent the caller cannot see, in the same order as before."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from botyard.core.pagination import encode_cursor
from botyard.core.timefmt import EARLIEST
from tests.bots.factories import (
    MISSING_BOT,
    MISSING_CONVERSATION,
    add_knowledge,
    assert_not_found,
    create_bot,
    org_with_key,
    send,
    start_conversation,
)

BAD_CURSOR = "not-a-cursor"
VALID_CURSOR = encode_cursor(EARLIEST, "a")
"""A cursor this API could have made, so only the parent decides the answer."""


async def _setup(app: FastAPI, client: httpx.AsyncClient) -> tuple[dict[str, str], str, str]:
    _, headers = await org_with_key(app)
    bot = await create_bot(client, headers)
    await add_knowledge(client, headers, bot["id"], "How do I pay?", "By card.")
    conversation = await start_conversation(client, headers, bot["id"])
    await send(client, headers, conversation["id"], "How do I pay?")
    return headers, bot["id"], conversation["id"]


@pytest.fixture
def paths() -> dict[str, str]:
    return {
        "conversation_id": "/v1/conversations/{}/messages",
        "bot_id": "/v1/bots/{}/knowledge",
    }


@pytest.mark.parametrize("param", ["conversation_id", "bot_id"])
async def test_another_organizations_parent_is_404_not_its_rows(
    app: FastAPI, client: httpx.AsyncClient, param: str, paths: dict[str, str]
) -> None:
    _, bot_id, conversation_id = await _setup(app, client)
    _, stranger = await org_with_key(app, ["read"])
    parent = conversation_id if param == "conversation_id" else bot_id
    for params in ({}, {"cursor": VALID_CURSOR}, {"cursor": BAD_CURSOR}):
        response = await client.get(paths[param].format(parent), params=params, headers=stranger)
        assert_not_found(response, param)


@pytest.mark.parametrize("param", ["conversation_id", "bot_id"])
async def test_a_missing_parent_is_404_before_a_bad_cursor_is_400(
    app: FastAPI, client: httpx.AsyncClient, param: str, paths: dict[str, str]
) -> None:
    headers, _, _ = await _setup(app, client)
    missing = MISSING_CONVERSATION if param == "conversation_id" else MISSING_BOT
    path = paths[param].format(missing)
    assert_not_found(await client.get(path, headers=headers), param)
    assert_not_found(await client.get(path, params={"cursor": BAD_CURSOR}, headers=headers), param)
    unstorable = paths[param].format("conv_\u00e9")
    assert_not_found(await client.get(unstorable, headers=headers), param)


@pytest.mark.parametrize("param", ["conversation_id", "bot_id"])
async def test_a_parent_that_exists_answers_its_rows_an_empty_page_or_the_cursor_error(
    app: FastAPI, client: httpx.AsyncClient, param: str, paths: dict[str, str]
) -> None:
    headers, bot_id, conversation_id = await _setup(app, client)
    path = paths[param].format(conversation_id if param == "conversation_id" else bot_id)
    full = await client.get(path, headers=headers)
    assert full.status_code == 200 and len(full.json()["data"]) >= 1
    empty_bot = await create_bot(client, headers)
    if param == "bot_id":
        empty = await client.get(paths[param].format(empty_bot["id"]), headers=headers)
        assert empty.status_code == 200
        assert empty.json() == {
            "object": "list",
            "data": [],
            "has_more": False,
            "next_cursor": None,
        }
    bad = await client.get(path, params={"cursor": BAD_CURSOR}, headers=headers)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_cursor"
