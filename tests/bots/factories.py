"""Helpers that build bots, knowledge and conversations through the HTTP API, as a client would."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from botyard.organizations.models import Organization
from tests.factories import auth, make_key, make_org, unique

MISSING_BOT = "bot_00000000000000000000"
MISSING_ENTRY = "kb_00000000000000000000"
MISSING_CONVERSATION = "conv_00000000000000000000"


def assert_validation_error(response: httpx.Response, param: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "validation_error"
    assert error["param"] == param


def assert_not_found(response: httpx.Response, param: str) -> None:
    assert response.status_code == 404, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "not_found",
        "resource_missing",
        param,
    )


async def org_with_key(
    app: FastAPI, scopes: list[str] | None = None
) -> tuple[Organization, dict[str, str]]:
    """A fresh organization and the headers of a key of it (write scope by default)."""
    org = await make_org(app)
    _, key = await make_key(app, org, scopes or ["write"])
    return org, auth(key)


async def create_bot(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    body = {"name": unique("Bot"), **fields}
    response = await client.post("/v1/bots", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def add_knowledge(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    bot_id: str,
    question: str,
    answer: str,
    tags: list[str] | None = None,
) -> dict[str, Any]:
    response = await client.post(
        f"/v1/bots/{bot_id}/knowledge",
        json={"question": question, "answer": answer, "tags": tags or []},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def start_conversation(
    client: httpx.AsyncClient, headers: dict[str, str], bot_id: str, **body: Any
) -> dict[str, Any]:
    response = await client.post(f"/v1/bots/{bot_id}/conversations", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def send(
    client: httpx.AsyncClient, headers: dict[str, str], conversation_id: str, text: str
) -> dict[str, Any]:
    """Post a user message; returns the exchange (message and reply)."""
    response = await client.post(
        f"/v1/conversations/{conversation_id}/messages", json={"text": text}, headers=headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def walk(
    client: httpx.AsyncClient, headers: dict[str, str], path: str, limit: int, **params: Any
) -> list[dict[str, Any]]:
    """Every item of a list endpoint, following next_cursor page by page."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        response = await client.get(path, params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["object"] == "list"
        assert len(page["data"]) <= limit
        items.extend(page["data"])
        if not page["has_more"]:
            assert page["next_cursor"] is None
            return items
        cursor = page["next_cursor"]
        assert cursor
