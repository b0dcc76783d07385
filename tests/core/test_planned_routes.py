"""Planned routes answer exactly as FastAPI's own handler does, and hand it what they can't."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Query, Request
from fastapi.routing import APIRoute, request_response
from fastapi.security import SecurityScopes
from pydantic import BaseModel
from starlette.responses import JSONResponse, Response

from botyard.core.planned_routes import Plan, plan_route
from tests.bots.factories import (
    MISSING_BOT,
    MISSING_CONVERSATION,
    create_bot,
    org_with_key,
    send,
    start_conversation,
)

VOLATILE_HEADERS = {
    "date",
    "x-request-id",
    "x-ratelimit-remaining",
    "x-ratelimit-used",
    "x-ratelimit-reset",
    "ratelimit",
    "retry-after",
}
"""Headers that differ between any two requests, planned or not (the key's budget)."""


def _route(app: FastAPI, method: str, path: str) -> APIRoute:
    for route in app.router.routes:
        if isinstance(route, APIRoute) and route.path == path and method in route.methods:
            return route
    raise LookupError(f"{method} {path}")


@contextmanager
def fastapi_handler(app: FastAPI, path: str) -> Iterator[None]:
    """The route answered by FastAPI's own handler for the duration."""
    route = _route(app, "GET", path)
    planned = route.app
    route.app = request_response(route.get_route_handler())
    try:
        yield
    finally:
        route.app = planned


def _comparable(response: httpx.Response) -> tuple[int, Any, dict[str, str]]:
    headers = {k: v for k, v in response.headers.items() if k not in VOLATILE_HEADERS}
    body = response.json()
    if isinstance(body, dict) and "error" in body:
        body["error"].pop("request_id")  # each request's own
    return response.status_code, body, headers


def test_the_api_reads_are_planned_and_the_rest_left_to_fastapi(app: FastAPI) -> None:
    planned = {
        (method, route.path)
        for route in app.router.routes
        if isinstance(route, APIRoute) and Plan.of(route) is not None
        for method in route.methods
    }
    for path in (
        "/v1/bots",
        "/v1/bots/{bot_id}",
        "/v1/bots/{bot_id}/knowledge",
        "/v1/conversations",
        "/v1/conversations/{conversation_id}/messages",
        "/v1/me",
    ):
        assert ("GET", path) in planned
    # A body, a session that commits after the endpoint (a yield dependency): FastAPI's.
    assert ("POST", "/v1/bots") not in planned
    assert ("PATCH", "/v1/bots/{bot_id}") not in planned
    assert ("POST", "/v1/conversations/{conversation_id}/messages") not in planned


async def test_planned_answers_equal_fastapis(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, headers = await org_with_key(app)
    _, write_only = await org_with_key(app, ["write"])
    bot = await create_bot(client, headers)
    conversation = await start_conversation(client, headers, bot["id"])
    await send(client, headers, conversation["id"], "Hello")
    cases: list[tuple[str, str, dict[str, str], dict[str, str]]] = [
        ("/v1/bots", "/v1/bots", {"limit": "2"}, headers),
        ("/v1/bots", "/v1/bots", {"limit": "0"}, headers),
        ("/v1/bots", "/v1/bots", {"limit": "many"}, headers),
        ("/v1/bots", "/v1/bots", {"cursor": "not-a-cursor"}, headers),
        ("/v1/bots", "/v1/bots", {}, {}),
        ("/v1/bots", "/v1/bots", {"limit": "0"}, {"Authorization": "Bearer byk_nope"}),
        ("/v1/bots", "/v1/bots", {}, write_only),
        ("/v1/bots/{bot_id}", f"/v1/bots/{bot['id']}", {}, headers),
        ("/v1/bots/{bot_id}", f"/v1/bots/{MISSING_BOT}", {}, headers),
        ("/v1/conversations", "/v1/conversations", {"status": "open", "limit": "1"}, headers),
        ("/v1/conversations", "/v1/conversations", {"status": "ajar"}, headers),
        ("/v1/conversations", "/v1/conversations", {"since": "yesterday"}, headers),
        ("/v1/conversations", "/v1/conversations", {"since": "2026-01-01", "status": ""}, headers),
        (
            "/v1/conversations/{conversation_id}/messages",
            f"/v1/conversations/{conversation['id']}/messages",
            {"limit": "1"},
            headers,
        ),
        (
            "/v1/conversations/{conversation_id}/messages",
            f"/v1/conversations/{MISSING_CONVERSATION}/messages",
            {"limit": "-1"},
            headers,
        ),
    ]
    for route_path, url, params, sent in cases:
        planned = await client.get(url, params=params, headers=sent)
        with fastapi_handler(app, route_path):
            by_fastapi = await client.get(url, params=params, headers=sent)
        assert _comparable(planned) == _comparable(by_fastapi), (url, params)


async def test_a_request_handed_to_fastapi_is_authenticated_and_counted_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _, headers = await org_with_key(app)
    remaining = []
    for params in ({"limit": "0"}, {"limit": "0"}, {"limit": "1"}, {"limit": "x"}):
        response = await client.get("/v1/bots", params=params, headers=headers)
        remaining.append(int(response.headers["x-ratelimit-remaining"]))
    assert remaining == [remaining[0] - i for i in range(4)]


class Thing(BaseModel):
    name: str


async def _scopes_seen(security_scopes: SecurityScopes, request: Request) -> list[str]:
    return [*security_scopes.scopes, request.url.path]


async def _session() -> AsyncIterator[str]:
    yield "session"


@pytest.fixture
def tiny() -> FastAPI:
    application = FastAPI()

    @application.get("/simple/{name}")
    async def simple(
        name: str,
        seen: Annotated[list[str], Depends(_scopes_seen)],
        count: Annotated[int, Query(ge=1)] = 3,
    ) -> Response:
        return JSONResponse({"name": name, "seen": seen, "count": count})

    @application.get("/listed")
    async def listed(tag: Annotated[list[str], Query()]) -> Response:
        return JSONResponse(tag)

    @application.get("/model")
    async def model() -> Thing:
        return Thing(name="x")

    @application.post("/body")
    async def body(thing: Thing) -> Response:
        return JSONResponse(thing.model_dump())

    @application.get("/session")
    async def session(value: Annotated[str, Depends(_session)]) -> Response:
        return JSONResponse(value)

    for route in application.router.routes:
        if isinstance(route, APIRoute):
            plan_route(route)
    return application


def test_only_simple_shapes_are_planned(tiny: FastAPI) -> None:
    shapes = {path: Plan.of(_route(tiny, m, path)) is not None for m, path in _ROUTES}
    assert shapes == {
        "/simple/{name}": True,
        "/listed": False,  # a list is read with getlist
        "/model": False,  # a response model to validate and serialize
        "/body": False,
        "/session": False,  # a dependency with yield
    }


_ROUTES = [
    ("GET", "/simple/{name}"),
    ("GET", "/listed"),
    ("GET", "/model"),
    ("POST", "/body"),
    ("GET", "/session"),
]


@pytest.fixture
async def tiny_client(tiny: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=tiny)
    async with httpx.AsyncClient(transport=transport, base_url="http://tiny") as c:
        yield c


async def test_a_planned_route_solves_defaults_scopes_and_errors_as_fastapi(
    tiny_client: httpx.AsyncClient,
) -> None:
    answered = await tiny_client.get("/simple/ada")
    assert answered.json() == {"name": "ada", "seen": ["/simple/ada"], "count": 3}
    assert (await tiny_client.get("/simple/ada?count=7")).json()["count"] == 7
    refused = await tiny_client.get("/simple/ada?count=0")
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["query", "count"]
    assert (await tiny_client.get("/listed?tag=a&tag=b")).json() == ["a", "b"]


async def test_dependency_overrides_are_left_to_fastapi(
    tiny: FastAPI, tiny_client: httpx.AsyncClient
) -> None:
    async def overridden() -> list[str]:
        return ["overridden"]

    tiny.dependency_overrides[_scopes_seen] = overridden
    response = await tiny_client.get("/simple/ada")
    assert response.json()["seen"] == ["overridden"]
