"""The widget's visitor API: config, conversations owned by a visitor token, replies."""

from __future__ import annotations

import hashlib

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from botyard.widget.models import WidgetConversation
from tests.widget.support import ANSWER, QUESTION, SHOP, error_code, make_site, start


async def test_config_shows_the_bots_widget_settings(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    site = await make_site(
        app,
        name="Acme Helper",
        welcome_message="Hello from Acme!",
        widget_color="#fde047",
        widget_launcher_text="Ask Acme",
    )
    response = await client.get("/v1/widget/config", headers=site.headers())
    assert response.status_code == 200, response.text
    assert response.json() == {
        "object": "widget_config",
        "bot_id": site.bot.id,
        "bot_name": "Acme Helper",
        "welcome_message": "Hello from Acme!",
        "launcher_text": "Ask Acme",
        "colors": {"primary": "#fde047", "on_primary": "#000000"},
        "identity_required": False,
        "available": True,
    }


async def test_settings_api_changes_the_widget_settings(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    site = await make_site(app)
    from tests.factories import auth

    changed = await client.patch(
        f"/v1/bots/{site.bot.id}/settings",
        headers=auth(site.secret),
        json={
            "widget_color": "#0F766E",
            "widget_launcher_text": "Help",
            "identity_verification": True,
        },
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["widget_color"] == "#0f766e"
    config = (await client.get("/v1/widget/config", headers=site.headers())).json()
    assert config["colors"]["primary"] == "#0f766e" and config["launcher_text"] == "Help"
    assert config["identity_required"] is True
    bad = await client.patch(
        f"/v1/bots/{site.bot.id}/settings", headers=auth(site.secret), json={"widget_color": "red"}
    )
    assert bad.status_code == 422


async def test_a_visitor_chats_and_reads_the_knowledge_answer(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    site = await make_site(app, welcome_message="Welcome!")
    started = await start(client, site)
    assert started["conversation"]["bot_id"] == site.bot.id
    assert started["conversation"]["id"].startswith("conv_")
    assert started["visitor_token"].startswith("byv_") and len(started["visitor_token"]) == 42
    assert [m["text"] for m in started["messages"]] == ["Welcome!"]
    assert started["messages"][0]["answer_source"] == "welcome"

    conversation_id = started["conversation"]["id"]
    headers = site.headers(**{"X-Visitor-Token": started["visitor_token"]})
    path = f"/v1/widget/conversations/{conversation_id}/messages"
    posted = await client.post(path, headers=headers, json={"text": QUESTION})
    assert posted.status_code == 201, posted.text
    assert posted.json()["message"]["text"] == QUESTION
    assert posted.json()["reply"]["text"] == ANSWER
    assert posted.json()["reply"]["answer_source"] == "knowledge"

    listed = await client.get(path, headers=headers)
    assert listed.status_code == 200
    assert [m["role"] for m in listed.json()["data"]] == ["bot", "user", "bot"]

    # Through the conversations service: the team sees it like any other conversation.
    from tests.factories import auth

    seen = await client.get(
        f"/v1/conversations/{conversation_id}/messages", headers=auth(site.secret)
    )
    assert [m["text"] for m in seen.json()["data"]] == ["Welcome!", QUESTION, ANSWER]


async def test_the_visitor_token_is_stored_hashed(app: FastAPI, client: httpx.AsyncClient) -> None:
    site = await make_site(app)
    started = await start(client, site)
    async with app.state.sessionmaker() as session:
        row = (
            await session.scalars(
                select(WidgetConversation).where(
                    WidgetConversation.conversation_id == started["conversation"]["id"]
                )
            )
        ).one()
    token = started["visitor_token"]
    assert row.visitor_token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(row.__dict__)


async def test_another_visitors_conversation_is_404(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    site = await make_site(app)
    first = await start(client, site)
    second = await start(client, site)
    path = f"/v1/widget/conversations/{first['conversation']['id']}/messages"
    intruder = site.headers(**{"X-Visitor-Token": second["visitor_token"]})
    read = await client.get(path, headers=intruder)
    wrote = await client.post(path, headers=intruder, json={"text": "hi"})
    missing = await client.get(
        "/v1/widget/conversations/conv_doesnotexist/messages", headers=intruder
    )
    for response in (read, wrote):
        assert response.status_code == 404, response.text
        assert response.json() == {
            **missing.json(),
            "error": {
                **missing.json()["error"],
                "request_id": response.json()["error"]["request_id"],
            },
        }
    no_token = await client.get(path, headers=site.headers())
    assert (no_token.status_code, error_code(no_token)) == (400, "missing_visitor_token")


async def test_a_conversation_of_another_bots_key_is_404(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    site = await make_site(app)
    other = await make_site(app)
    started = await start(client, site)
    path = f"/v1/widget/conversations/{started['conversation']['id']}/messages"
    response = await client.get(
        path,
        headers={**other.headers(), "X-Visitor-Token": started["visitor_token"]},
    )
    assert response.status_code == 404


async def test_a_paused_bot_says_so(app: FastAPI, client: httpx.AsyncClient) -> None:
    site = await make_site(app, status="paused")
    config = await client.get("/v1/widget/config", headers=site.headers())
    assert config.json()["available"] is False
    refused = await client.post("/v1/widget/conversations", headers=site.headers())
    assert (refused.status_code, error_code(refused)) == (409, "bot_paused")
    assert refused.headers["access-control-allow-origin"] == SHOP
