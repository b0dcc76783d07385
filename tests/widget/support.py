"""Objects the widget tests share: an organization with a bot, a secret and a publishable key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from botyard.audit.service import CLI_ACTOR
from botyard.bots.models import Bot, KnowledgeEntry
from botyard.organizations.models import Organization
from botyard.widget import service as widget
from tests.factories import auth, make_bot, make_key, make_org

SHOP = "https://shop.example"
ELSEWHERE = "https://evil.example"
QUESTION = "What are your opening hours?"
ANSWER = "We are open 9 to 5, Monday to Friday."


@dataclass
class Site:
    org: Organization
    bot: Bot
    secret: str
    secret_id: str
    publishable: str
    publishable_id: str

    def headers(self, origin: str | None = SHOP, **extra: str) -> dict[str, str]:
        headers = {**auth(self.publishable), **extra}
        if origin is not None:
            headers["Origin"] = origin
        return headers


async def make_site(app: FastAPI, origins: list[str] | None = None, **bot_fields: Any) -> Site:
    org = await make_org(app, rate_limit=1_000_000)
    secret_key, secret = await make_key(app, org, ["admin"])
    bot = await make_bot(app, org, **bot_fields)
    async with app.state.sessionmaker() as session:
        session.add(
            KnowledgeEntry(organization_id=org.id, bot_id=bot.id, question=QUESTION, answer=ANSWER)
        )
        key = await widget.create_key(
            session, bot, name="Shop", allowed_origins=origins or [SHOP], actor=CLI_ACTOR
        )
        await session.commit()
    return Site(org, bot, secret, secret_key.id, key.key, key.id)


async def start(client: httpx.AsyncClient, site: Site, **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/widget/conversations", headers=site.headers(), json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def error_code(response: httpx.Response) -> str | None:
    return response.json().get("error", {}).get("code") if response.content else None
