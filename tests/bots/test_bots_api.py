"""Bots and their settings over the API: create, read, list, change, delete, validate."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from botyard.bots.models import DEFAULT_FALLBACK, DEFAULT_WELCOME
from botyard.conversations.ranking import DEFAULT_ANSWER_THRESHOLD
from botyard.core.clock import FrozenClock
from botyard.core.timefmt import rfc3339
from tests.bots.factories import (
    MISSING_BOT,
    assert_not_found,
    assert_validation_error,
    create_bot,
    org_with_key,
    walk,
)
from tests.factories import auth, make_key


async def test_create_then_get_a_bot(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    _, headers = await org_with_key(app)
    response = await client.post(
        "/v1/bots",
        json={"name": "  Support  ", "description": "Answers billing questions"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    bot = response.json()
    assert bot["id"].startswith("bot_")
    now = rfc3339(frozen_clock.now())
    assert bot == {
        "object": "bot",
        "id": bot["id"],
        "name": "Support",
        "description": "Answers billing questions",
        "status": "active",
        "created_at": now,
        "updated_at": now,
    }
    fetched = await client.get(f"/v1/bots/{bot['id']}", headers=headers)
    assert fetched.status_code == 200
    assert fetched.json() == bot


async def test_a_new_bot_has_default_settings(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, headers = await org_with_key(app)
    bot = await create_bot(client, headers)
    response = await client.get(f"/v1/bots/{bot['id']}/settings", headers=headers)
    assert response.status_code == 200
    assert response.json() == {
        "object": "bot_settings",
        "bot_id": bot["id"],
        "widget_color": "#2563eb",
        "widget_launcher_text": "Chat with us",
        "identity_verification": False,
        "welcome_message": DEFAULT_WELCOME,
        "fallback_message": DEFAULT_FALLBACK,
        "language": "en",
        "answer_threshold": DEFAULT_ANSWER_THRESHOLD,
    }


async def test_create_accepts_settings(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, headers = await org_with_key(app)
    bot = await create_bot(
        client,
        headers,
        status="paused",
        welcome_message="Bonjour !",
        fallback_message="Je ne sais pas.",
        language="fr",
        answer_threshold=0.7,
    )
    assert bot["status"] == "paused"
    settings = (await client.get(f"/v1/bots/{bot['id']}/settings", headers=headers)).json()
    assert settings["welcome_message"] == "Bonjour !"
    assert settings["fallback_message"] == "Je ne sais pas."
    assert settings["language"] == "fr"
    assert settings["answer_threshold"] == 0.7


async def test_patch_changes_only_the_given_fields_and_moves_updated_at(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    _, headers = await org_with_key(app)
    bot = await create_bot(client, headers, description="first")
    frozen_clock.advance(timedelta(minutes=5))
    response = await client.patch(
        f"/v1/bots/{bot['id']}", json={"status": "paused"}, headers=headers
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["status"] == "paused"
    assert changed["name"] == bot["name"]
    assert changed["description"] == "first"
    assert changed["created_at"] == bot["created_at"]
    assert changed["updated_at"] == rfc3339(frozen_clock.now())
    assert (await client.get(f"/v1/bots/{bot['id']}", headers=headers)).json() == changed


async def test_patch_without_a_real_change_keeps_updated_at(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    _, headers = await org_with_key(app)
    bot = await create_bot(client, headers)
    frozen_clock.advance(timedelta(minutes=5))
    response = await client.patch(
        f"/v1/bots/{bot['id']}", json={"name": bot["name"]}, headers=headers
    )
    assert response.json()["updated_at"] == bot["updated_at"]


async def test_patch_settings(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    _, headers = await org_with_key(app)
    bot = await create_bot(client, headers)
    frozen_clock.advance(timedelta(hours=1))
    response = await client.patch(
        f"/v1/bots/{bot['id']}/settings",
        json={"fallback_message": "Ask a human.", "answer_threshold": 0},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    settings = response.json()
    assert settings["fallback_message"] == "Ask a human."
    assert settings["answer_threshold"] == 0
    assert settings["welcome_message"] == DEFAULT_WELCOME
    fetched = await client.get(f"/v1/bots/{bot['id']}", headers=headers)
    assert fetched.json()["updated_at"] == rfc3339(frozen_clock.now())


async def test_delete_a_bot(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, headers = await org_with_key(app)
    bot = await create_bot(client, headers)
    response = await client.delete(f"/v1/bots/{bot['id']}", headers=headers)
    assert response.status_code == 200
    assert response.json() == {"id": bot["id"], "object": "bot", "deleted": True}
    assert_not_found(await client.get(f"/v1/bots/{bot['id']}", headers=headers), "bot_id")
    assert_not_found(await client.delete(f"/v1/bots/{bot['id']}", headers=headers), "bot_id")
    listed = await client.get("/v1/bots", headers=headers)
    assert bot["id"] not in [b["id"] for b in listed.json()["data"]]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/bots/{id}"),
        ("PATCH", "/v1/bots/{id}"),
        ("DELETE", "/v1/bots/{id}"),
        ("GET", "/v1/bots/{id}/settings"),
        ("PATCH", "/v1/bots/{id}/settings"),
    ],
)
async def test_missing_and_foreign_bots_are_both_404(
    app: FastAPI, client: httpx.AsyncClient, method: str, path: str
) -> None:
    _, other_headers = await org_with_key(app)
    foreign = await create_bot(client, other_headers)
    _, headers = await org_with_key(app)
    body = {} if method == "PATCH" else None
    responses = [
        await client.request(method, path.format(id=bot_id), json=body, headers=headers)
        for bot_id in (MISSING_BOT, foreign["id"])
    ]
    for response in responses:
        assert_not_found(response, "bot_id")
    missing, other = (r.json()["error"] for r in responses)
    assert {**missing, "request_id": None} == {**other, "request_id": None}
    unchanged = await client.get(f"/v1/bots/{foreign['id']}", headers=other_headers)
    assert unchanged.json() == foreign


async def test_list_shows_only_the_callers_bots(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, other_headers = await org_with_key(app)
    await create_bot(client, other_headers)
    _, headers = await org_with_key(app)
    mine = await create_bot(client, headers)
    listed = (await client.get("/v1/bots", headers=headers)).json()
    assert [b["id"] for b in listed["data"]] == [mine["id"]]
    assert listed["has_more"] is False
    assert listed["next_cursor"] is None


async def test_pagination_walks_every_bot_once_newest_first(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    _, headers = await org_with_key(app)
    created = []
    for i in range(7):
        created.append((await create_bot(client, headers, name=f"bot {i}"))["id"])
        if i % 2:
            frozen_clock.advance(timedelta(seconds=1))  # some bots share a created_at
    walked = await walk(client, headers, "/v1/bots", limit=3)
    ids = [b["id"] for b in walked]
    assert len(ids) == len(set(ids)) == 7
    assert set(ids) == set(created)
    times = [b["created_at"] for b in walked]
    assert times == sorted(times, reverse=True)


async def test_limit_outside_one_to_hundred_is_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _, headers = await org_with_key(app)
    for limit in (0, 101):
        assert_validation_error(
            await client.get("/v1/bots", params={"limit": limit}, headers=headers), "limit"
        )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "ok", "status": "sleeping"}, "status"),
        ({"name": "ok", "answer_threshold": 1.5}, "answer_threshold"),
        ({"name": "ok", "answer_threshold": -0.1}, "answer_threshold"),
        ({"name": "ok", "language": "english please"}, "language"),
        ({"name": "ok", "welcome_message": ""}, "welcome_message"),
        ({"name": "ok", "colour": "blue"}, "colour"),
    ],
)
async def test_create_validation(
    app: FastAPI, client: httpx.AsyncClient, body: dict[str, object], param: str
) -> None:
    _, headers = await org_with_key(app)
    assert_validation_error(await client.post("/v1/bots", json=body, headers=headers), param)


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/bots/{id}", {"name": None}, "name"),
        ("/v1/bots/{id}", {"status": "deleted"}, "status"),
        ("/v1/bots/{id}", {"welcome_message": "hi"}, "welcome_message"),
        ("/v1/bots/{id}/settings", {"name": "settings have no name"}, "name"),
        ("/v1/bots/{id}/settings", {"answer_threshold": "high"}, "answer_threshold"),
        ("/v1/bots/{id}/settings", {"fallback_message": None}, "fallback_message"),
    ],
)
async def test_update_validation(
    app: FastAPI, client: httpx.AsyncClient, path: str, body: dict[str, object], param: str
) -> None:
    _, headers = await org_with_key(app)
    bot = await create_bot(client, headers)
    response = await client.patch(path.format(id=bot["id"]), json=body, headers=headers)
    assert_validation_error(response, param)
    assert (await client.get(f"/v1/bots/{bot['id']}", headers=headers)).json() == bot


async def test_read_key_reads_but_cannot_write(app: FastAPI, client: httpx.AsyncClient) -> None:
    org, write_headers = await org_with_key(app)
    bot = await create_bot(client, write_headers)
    _, read_key = await make_key(app, org, ["read"])
    read_headers = auth(read_key)
    assert (await client.get(f"/v1/bots/{bot['id']}", headers=read_headers)).status_code == 200
    for method, path in [
        ("POST", "/v1/bots"),
        ("PATCH", f"/v1/bots/{bot['id']}"),
        ("DELETE", f"/v1/bots/{bot['id']}"),
        ("PATCH", f"/v1/bots/{bot['id']}/settings"),
    ]:
        response = await client.request(method, path, json={"name": "x"}, headers=read_headers)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"]["code"] == "missing_scope"
