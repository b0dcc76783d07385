"""Issue 16 item 16: the small surprises of a first hour, each as a user meets it."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from botyard.conversations.schemas import MESSAGE_TEXT_MAX
from tests.dashboard.helpers import login
from tests.factories import auth, make_bot, make_key, make_org, make_user


async def test_the_revoke_page_counts_a_use_not_yet_written(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    key, plaintext = await make_key(app, org)
    await login(client, await make_user(app, org, "owner"))
    before = await client.get(f"/dashboard/settings/api/keys/{key.id}/revoke")
    assert "<dd>never</dd>" in before.text
    assert (await client.get("/v1/me", headers=auth(plaintext))).status_code == 200
    page = await client.get(f"/dashboard/settings/api/keys/{key.id}/revoke")
    assert "<dd>never</dd>" not in page.text
    assert "<dd>just now</dd>" in page.text


async def test_try_it_takes_as_long_a_message_as_the_api(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    bot = await make_bot(app, org)
    await login(client, await make_user(app, org, "owner"))
    page = (await client.get(f"/dashboard/bots/{bot.id}")).text
    assert f'name="message" maxlength="{MESSAGE_TEXT_MAX}"' in page
    assert 'maxlength="2000"' not in page


async def test_validation_messages_carry_no_pydantic_prefix(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _, plaintext = await make_key(app, await make_org(app), ["admin"])
    response = await client.post(
        "/v1/api-keys", headers=auth(plaintext), json={"name": "   ", "scopes": ["read"]}
    )
    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert message == "name: name must not be blank", message


async def test_every_page_has_a_favicon(app: FastAPI, client: httpx.AsyncClient) -> None:
    icon = await client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.text.startswith("<svg")
    login_page = await client.get("/dashboard/login")
    assert 'rel="icon" href="/dashboard/static/favicon.svg' in login_page.text


async def test_members_are_not_shown_pages_they_cannot_open(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app)
    await login(client, await make_user(app, org, "member"))
    nav = (await client.get("/dashboard/bots")).text.split('class="mainnav"')[1].split("</nav>")[0]
    assert 'href="/dashboard/logs"' not in nav and 'href="/dashboard/audit"' not in nav
    assert (await client.get("/dashboard/logs")).status_code == 403

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("192.0.2.44", 1)), base_url="http://t"
    ) as admin_client:
        await login(admin_client, await make_user(app, org, "admin"))
        admin_nav = (await admin_client.get("/dashboard/bots")).text.split('class="mainnav"')[1]
        assert 'href="/dashboard/logs"' in admin_nav and 'href="/dashboard/audit"' in admin_nav
