"""Small helpers that build data through the services, each call with unique names."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI

from botyard.api_keys import service as keys
from botyard.api_keys.models import ApiKey
from botyard.audit.service import CLI_ACTOR
from botyard.bots.models import Bot
from botyard.organizations import service as orgs
from botyard.organizations.models import Organization, Plan
from botyard.users import service as users
from botyard.users.models import Role, User


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


async def make_org(app: FastAPI, plan: str = "professional", **fields: Any) -> Organization:
    async with app.state.sessionmaker() as session:
        org = await orgs.create(session, fields.pop("name", unique("Org")), Plan(plan))
        for name, value in fields.items():
            setattr(org, name, value)
        await session.commit()
        return org


async def make_key(
    app: FastAPI, org: Organization, scopes: list[str] | None = None, **options: Any
) -> tuple[ApiKey, str]:
    async with app.state.sessionmaker() as session:
        key, plaintext = await keys.create_key(
            session,
            org,
            name=options.pop("name", unique("Key")),
            scopes=scopes or ["read"],
            actor=CLI_ACTOR,
            **options,
        )
        await session.commit()
        return key, plaintext


async def make_user(
    app: FastAPI, org: Organization, role: str = "owner", password: str = "correct horse battery"
) -> User:
    async with app.state.sessionmaker() as session:
        user = await users.create_user(session, f"{uuid.uuid4().hex[:10]}@example.com", password)
        await users.add_member(session, org, user, Role(role))
        await session.commit()
        return user


async def make_bot(app: FastAPI, org: Organization, **fields: Any) -> Bot:
    async with app.state.sessionmaker() as session:
        bot = Bot(organization_id=org.id, name=fields.pop("name", unique("Bot")), **fields)
        session.add(bot)
        await session.commit()
        return bot


def auth(plaintext: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {plaintext}"}
