"""The bot page's Website widget card: keys with their snippet, copy, rotate, revoke, settings."""

from __future__ import annotations

import html
import re

import httpx
from fastapi import FastAPI

from botyard.widget.models import PublishableKey
from tests.dashboard.helpers import login
from tests.factories import make_bot, make_org, make_user


def snippets(page: str) -> list[str]:
    """The snippets as a visitor copies them (the textarea's text, unescaped)."""
    return [
        html.unescape(m)
        for m in re.findall(r'<textarea id="snippet-[^"]+"[^>]*>(.*?)</textarea>', page, re.S)
    ]


async def test_create_copy_rotate_and_revoke_a_publishable_key(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    bot = await make_bot(app, org)
    csrf = await login(client, await make_user(app, org, "member"))
    page = await client.get(f"/dashboard/bots/{bot.id}")
    assert 'id="widget"' in page.text and "Website widget" in page.text
    assert "No publishable key yet" in page.text

    refused = await client.post(
        f"/dashboard/bots/{bot.id}/widget/keys",
        data={"csrf_token": csrf, "name": "Shop", "allowed_origins": "shop.example/checkout"},
    )
    assert refused.status_code == 400 and "is not an allowed origin" in refused.text

    created = await client.post(
        f"/dashboard/bots/{bot.id}/widget/keys",
        data={"csrf_token": csrf, "name": "Shop",
              "allowed_origins": "https://shop.example\nhttp://localhost:3000"},
    )  # fmt: skip
    assert created.status_code == 303
    page = await client.get(created.headers["location"])
    (snippet,) = snippets(page.text)
    key = re.search(r'data-key="(byp_[0-9A-Za-z]{38})"', snippet)
    assert key is not None
    assert snippet == (
        f'<script src="{app.state.settings.public_url}/widget.js" data-key="{key.group(1)}" async>'
        "</script>"
    )
    assert "<code>https://shop.example</code>, <code>http://localhost:3000</code>" in page.text
    assert 'data-copy-target="snippet-' in page.text

    async with app.state.sessionmaker() as session:
        stored = (await session.scalars(
            PublishableKey.__table__.select().where(PublishableKey.bot_id == bot.id)
        )).all()  # fmt: skip
    (key_id,) = [row for row in stored]
    rotated = await client.post(
        f"/dashboard/bots/{bot.id}/widget/keys/{key_id}/rotate", data={"csrf_token": csrf}
    )
    assert rotated.status_code == 303
    page = await client.get(f"/dashboard/bots/{bot.id}")
    (new_snippet,) = snippets(page.text)
    assert key.group(1) not in new_snippet and "rotate" in page.text.lower()
    new_id = re.search(r'id="widget-key-(pk_[0-9A-Za-z]+)"', page.text)
    assert new_id is not None
    revoked = await client.post(
        f"/dashboard/bots/{bot.id}/widget/keys/{new_id.group(1)}/revoke", data={"csrf_token": csrf}
    )
    assert revoked.status_code == 303
    page = await client.get(f"/dashboard/bots/{bot.id}")
    assert snippets(page.text) == [] and new_id.group(1) in page.text  # listed as revoked


async def test_widget_settings_and_other_organizations(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    bot = await make_bot(app, org)
    csrf = await login(client, await make_user(app, org, "member"))
    saved = await client.post(
        f"/dashboard/bots/{bot.id}/widget/settings",
        data={"csrf_token": csrf, "widget_color": "#0F766E", "widget_launcher_text": "Ask us",
              "identity_verification": "on"},
    )  # fmt: skip
    assert saved.status_code == 303
    page = await client.get(f"/dashboard/bots/{bot.id}")
    assert 'value="#0f766e"' in page.text and 'value="Ask us"' in page.text
    bad = await client.post(
        f"/dashboard/bots/{bot.id}/widget/settings",
        data={"csrf_token": csrf, "widget_color": "teal", "widget_launcher_text": "Ask us"},
    )
    assert bad.status_code == 400

    other = await make_bot(app, await make_org(app))
    foreign = await client.post(
        f"/dashboard/bots/{other.id}/widget/keys",
        data={"csrf_token": csrf, "allowed_origins": "https://shop.example"},
    )
    assert foreign.status_code == 404
