"""A bot's knowledge entries over the API: CRUD, limits, pagination and tenancy."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from botyard.core.clock import FrozenClock
from botyard.core.timefmt import rfc3339
from tests.bots.factories import (
    MISSING_BOT,
    MISSING_ENTRY,
    add_knowledge,
    assert_not_found,
    assert_validation_error,
    create_bot,
    org_with_key,
    walk,
)


async def test_create_get_update_delete_an_entry(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    _, headers = await org_with_key(app)
    bot = await create_bot(client, headers)
    entry = await add_knowledge(
        client,
        headers,
        bot["id"],
        " How do I get a refund? ",
        "Write to billing within 30 days.",
        ["billing", "refund", "billing"],
    )
    now = rfc3339(frozen_clock.now())
    assert entry == {
        "object": "knowledge_entry",
        "id": entry["id"],
        "bot_id": bot["id"],
        "question": "How do I get a refund?",
        "answer": "Write to billing within 30 days.",
        "tags": ["billing", "refund"],
        "created_at": now,
        "updated_at": now,
    }
    assert entry["id"].startswith("kb_")
    path = f"/v1/bots/{bot['id']}/knowledge/{entry['id']}"
    assert (await client.get(path, headers=headers)).json() == entry

    frozen_clock.advance(timedelta(minutes=1))
    response = await client.patch(path, json={"tags": ["money"]}, headers=headers)
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["tags"] == ["money"]
    assert changed["question"] == entry["question"]
    assert changed["updated_at"] == rfc3339(frozen_clock.now())
    assert (await client.get(path, headers=headers)).json() == changed

    deleted = await client.delete(path, headers=headers)
    assert deleted.status_code == 200
    assert deleted.json() == {"id": entry["id"], "object": "knowledge_entry", "deleted": True}
    assert_not_found(await client.get(path, headers=headers), "kb_id")


async def test_entries_are_listed_per_bot_with_pagination(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    _, headers = await org_with_key(app)
    bot = await create_bot(client, headers)
    other_bot = await create_bot(client, headers)
    await add_knowledge(client, headers, other_bot["id"], "Other bot?", "Yes.")
    created = []
    for i in range(9):
        entry = await add_knowledge(client, headers, bot["id"], f"Question {i}?", f"Answer {i}.")
        created.append(entry["id"])
        if i % 3 == 0:
            frozen_clock.advance(timedelta(seconds=1))
    walked = await walk(client, headers, f"/v1/bots/{bot['id']}/knowledge", limit=4)
    ids = [e["id"] for e in walked]
    assert len(ids) == len(set(ids)) == 9
    assert set(ids) == set(created)
    assert {e["bot_id"] for e in walked} == {bot["id"]}


async def test_an_entry_is_only_reachable_through_its_own_bot(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _, headers = await org_with_key(app)
    bot = await create_bot(client, headers)
    sibling = await create_bot(client, headers)
    entry = await add_knowledge(client, headers, bot["id"], "Q?", "A.")
    response = await client.get(
        f"/v1/bots/{sibling['id']}/knowledge/{entry['id']}", headers=headers
    )
    assert_not_found(response, "kb_id")


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("PATCH", ""), ("DELETE", "")],
)
async def test_foreign_entries_answer_like_missing_ones(
    app: FastAPI, client: httpx.AsyncClient, method: str, suffix: str
) -> None:
    _, other_headers = await org_with_key(app)
    foreign_bot = await create_bot(client, other_headers)
    foreign = await add_knowledge(client, other_headers, foreign_bot["id"], "Secret?", "Yes.")
    _, headers = await org_with_key(app)
    body = {"answer": "stolen"} if method == "PATCH" else None
    through_foreign_bot = await client.request(
        method,
        f"/v1/bots/{foreign_bot['id']}/knowledge/{foreign['id']}",
        json=body,
        headers=headers,
    )
    assert_not_found(through_foreign_bot, "bot_id")
    own_bot = await create_bot(client, headers)
    for entry_id in (foreign["id"], MISSING_ENTRY):
        response = await client.request(
            method, f"/v1/bots/{own_bot['id']}/knowledge/{entry_id}", json=body, headers=headers
        )
        assert_not_found(response, "kb_id")
    unchanged = await client.get(
        f"/v1/bots/{foreign_bot['id']}/knowledge/{foreign['id']}", headers=other_headers
    )
    assert unchanged.json() == foreign


async def test_knowledge_of_a_missing_bot_is_404(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, headers = await org_with_key(app)
    assert_not_found(
        await client.get(f"/v1/bots/{MISSING_BOT}/knowledge", headers=headers), "bot_id"
    )
    response = await client.post(
        f"/v1/bots/{MISSING_BOT}/knowledge", json={"question": "Q", "answer": "A"}, headers=headers
    )
    assert_not_found(response, "bot_id")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"answer": "A"}, "question"),
        ({"question": "Q"}, "answer"),
        ({"question": "", "answer": "A"}, "question"),
        ({"question": "q" * 1001, "answer": "A"}, "question"),
        ({"question": "Q", "answer": "a" * 10_001}, "answer"),
        ({"question": "Q", "answer": "A", "tags": "billing"}, "tags"),
        ({"question": "Q", "answer": "A", "tags": [f"t{i}" for i in range(21)]}, "tags"),
        ({"question": "Q", "answer": "A", "tags": ["ok", "t" * 51]}, "tags.1"),
        ({"question": "Q", "answer": "A", "tags": [""]}, "tags.0"),
        ({"question": "Q", "answer": "A", "score": 1}, "score"),
    ],
)
async def test_create_validation(
    app: FastAPI, client: httpx.AsyncClient, body: dict[str, object], param: str
) -> None:
    _, headers = await org_with_key(app)
    bot = await create_bot(client, headers)
    response = await client.post(f"/v1/bots/{bot['id']}/knowledge", json=body, headers=headers)
    assert_validation_error(response, param)
    assert (await client.get(f"/v1/bots/{bot['id']}/knowledge", headers=headers)).json()[
        "data"
    ] == []


async def test_the_longest_allowed_entry_is_accepted(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _, headers = await org_with_key(app)
    bot = await create_bot(client, headers)
    tags = [f"{i:02d}" + "t" * 48 for i in range(20)]
    entry = await add_knowledge(client, headers, bot["id"], "q" * 1000, "a" * 10_000, tags)
    assert entry["tags"] == tags


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"question": None}, "question"),
        ({"answer": ""}, "answer"),
        ({"tags": None}, "tags"),
        ({"bot_id": "bot_elsewhere"}, "bot_id"),
    ],
)
async def test_update_validation(
    app: FastAPI, client: httpx.AsyncClient, body: dict[str, object], param: str
) -> None:
    _, headers = await org_with_key(app)
    bot = await create_bot(client, headers)
    entry = await add_knowledge(client, headers, bot["id"], "Q?", "A.")
    path = f"/v1/bots/{bot['id']}/knowledge/{entry['id']}"
    assert_validation_error(await client.patch(path, json=body, headers=headers), param)
    assert (await client.get(path, headers=headers)).json() == entry
