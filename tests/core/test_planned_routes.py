"""Planned routes answer exactly as FastAPI's own handler does, and hand it what they can't."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Header, Query, Request
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
def fastapi_handler(app: FastAPI, path: str, method: str = "GET") -> Iterator[None]:
    """The route answered by FastAPI's own handler for the duration."""
    route = _route(app, method, path)
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


def test_the_api_hot_paths_are_planned_and_the_odd_shapes_left_to_fastapi(app: FastAPI) -> None:
    planned = {
        (method, route.path)
        for route in app.router.routes
        if isinstance(route, APIRoute) and Plan.of(route) is not None
        for method in route.methods
    }
    for method, path in (
        ("GET", "/v1/bots"),
        ("GET", "/v1/bots/{bot_id}"),
        ("GET", "/v1/bots/{bot_id}/knowledge"),
        ("GET", "/v1/conversations"),
        ("GET", "/v1/conversations/{conversation_id}/messages"),
        ("GET", "/v1/me"),
        ("POST", "/v1/bots"),  # a body, a Writer that commits after the endpoint
        ("PATCH", "/v1/bots/{bot_id}"),  # a body, a session, a response model
        ("POST", "/v1/conversations/{conversation_id}/messages"),
    ):
        assert (method, path) in planned
    # A body that may be left out, a webhook's raw body and headers: FastAPI's.
    assert ("POST", "/v1/bots/{bot_id}/conversations") not in planned
    assert ("POST", "/v1/secret-scanning/github") not in planned


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
        # Hostile values: each must be refused (or read) exactly as FastAPI would.
        ("/v1/bots", "/v1/bots", {"limit": "9" * 5000}, headers),
        ("/v1/bots", "/v1/bots", {"limit": "1\x00"}, headers),
        ("/v1/bots", "/v1/bots", {"cursor": "A" * 20_000}, headers),
        ("/v1/bots/{bot_id}", "/v1/bots/%00%2F..%2F", {}, headers),
        ("/v1/conversations", "/v1/conversations", {"since": "9999-12-31T23:59:59-14:00"}, headers),
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


async def test_planned_writes_answer_and_refuse_as_fastapi(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _, headers = await org_with_key(app)
    bot = await create_bot(client, headers)
    as_json = {**headers, "Content-Type": "application/json"}
    refused: list[tuple[str, str, str, dict[str, str], bytes]] = [
        ("POST", "/v1/bots", "/v1/bots", as_json, b"{}"),
        ("POST", "/v1/bots", "/v1/bots", as_json, b'{"name": ""}'),
        ("POST", "/v1/bots", "/v1/bots", as_json, b'{"name": "x", "status": 7}'),
        ("POST", "/v1/bots", "/v1/bots", as_json, b'{"name": '),
        ("POST", "/v1/bots", "/v1/bots", as_json, b"[1, 2]"),
        ("POST", "/v1/bots", "/v1/bots", as_json, b""),
        ("POST", "/v1/bots", "/v1/bots", {**headers, "Content-Type": "text/plain"}, b"{}"),
        ("POST", "/v1/bots", "/v1/bots", headers, b'{"name": "No type"}'),
        ("POST", "/v1/bots", "/v1/bots", as_json, b'{"name": "' + b"x" * 200_000 + b'"}'),
        ("POST", "/v1/bots", "/v1/bots", as_json, b"[" * 50_000 + b"]" * 50_000),
        ("POST", "/v1/bots", "/v1/bots", as_json, b'{"name": "\\ud800"}'),
        ("POST", "/v1/bots", "/v1/bots", as_json, b'{"name": {"$gt": ""}}'),
        ("PATCH", "/v1/bots/{bot_id}", f"/v1/bots/{MISSING_BOT}", as_json, b'{"name": "y"}'),
        ("PATCH", "/v1/bots/{bot_id}", f"/v1/bots/{bot['id']}", as_json, b'{"status": "x"}'),
    ]
    for method, route_path, url, sent, content in refused:
        planned = await client.request(method, url, headers=sent, content=content)
        with fastapi_handler(app, route_path, method):
            by_fastapi = await client.request(method, url, headers=sent, content=content)
        assert planned.status_code >= 400, (url, content)
        assert _comparable(planned) == _comparable(by_fastapi), (url, content)

    def shown(response: httpx.Response) -> tuple[int, set[str], dict[str, str]]:
        status, body, sent_headers = _comparable(response)
        sent_headers.pop("content-length", None)
        return status, set(body), sent_headers

    body = b'{"name": "Planned"}'
    planned = await client.post("/v1/bots", headers=as_json, content=body)
    with fastapi_handler(app, "/v1/bots", "POST"):
        by_fastapi = await client.post("/v1/bots", headers=as_json, content=body)
    assert planned.status_code == 201
    assert shown(planned) == shown(by_fastapi)
    renamed = await client.patch(
        f"/v1/bots/{planned.json()['id']}", headers=as_json, content=b'{"name": "Renamed"}'
    )
    assert renamed.json()["name"] == "Renamed"
    seen = await client.get(f"/v1/bots/{planned.json()['id']}", headers=headers)
    assert seen.json()["name"] == "Renamed"  # committed by the session the request owned


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


EVENTS: list[str] = []


async def _session() -> AsyncIterator[str]:
    EVENTS.append("opened")
    try:
        yield "session"
    except ValueError:
        EVENTS.append("rolled back")
        raise
    else:
        EVENTS.append("committed")


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
    async def session(value: Annotated[str, Depends(_session, scope="function")]) -> Thing:
        EVENTS.append("endpoint")
        return Thing(name=value)

    @application.get("/both")
    async def both(
        seen: Annotated[list[str], Depends(_scopes_seen)],
        value: Annotated[str, Depends(_session, scope="function")],
    ) -> Response:
        EVENTS.append("endpoint")
        return JSONResponse([*seen, value])

    @application.get("/failing")
    async def failing(value: Annotated[str, Depends(_session, scope="function")]) -> Thing:
        raise ValueError(value)

    @application.get("/header")
    async def with_header(agent: Annotated[str, Header()]) -> Response:
        return JSONResponse(agent)

    @application.post("/maybe")
    async def maybe(thing: Thing | None = None) -> Response:
        return JSONResponse(thing.model_dump() if thing else None)

    for route in application.router.routes:
        if isinstance(route, APIRoute):
            plan_route(route)
    return application


def test_only_simple_shapes_are_planned(tiny: FastAPI) -> None:
    shapes = {path: Plan.of(_route(tiny, m, path)) is not None for m, path in _ROUTES}
    assert shapes == {
        "/simple/{name}": True,
        "/listed": False,  # a list is read with getlist
        "/model": True,  # a response model, serialized by FastAPI's serialize_response
        "/body": True,
        "/session": True,  # a dependency with yield, solved by FastAPI
        "/both": True,
        "/failing": True,
        "/header": False,
        "/maybe": False,  # a body that may be left out
    }


_ROUTES = [
    ("GET", "/simple/{name}"),
    ("GET", "/listed"),
    ("GET", "/model"),
    ("POST", "/body"),
    ("GET", "/session"),
    ("GET", "/both"),
    ("GET", "/failing"),
    ("GET", "/header"),
    ("POST", "/maybe"),
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


async def test_a_planned_body_and_response_model_are_fastapis(
    tiny_client: httpx.AsyncClient,
) -> None:
    assert (await tiny_client.get("/model")).json() == {"name": "x"}
    echoed = await tiny_client.post("/body", json={"name": "ada"})
    assert echoed.json() == {"name": "ada"}
    refused = await tiny_client.post("/body", json={"name": 3})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "name"]
    malformed = await tiny_client.post(
        "/body", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 422
    assert malformed.json()["detail"][0]["type"] == "json_invalid"


async def test_a_yield_dependency_closes_after_the_endpoint_as_fastapi_closes_it(
    tiny_client: httpx.AsyncClient,
) -> None:
    EVENTS.clear()
    answered = await tiny_client.get("/session")
    assert answered.json() == {"name": "session"}
    assert EVENTS == ["opened", "endpoint", "committed"]
    EVENTS.clear()
    assert (await tiny_client.get("/both")).json() == ["/both", "session"]
    assert EVENTS == ["opened", "endpoint", "committed"]
    EVENTS.clear()
    with pytest.raises(ValueError, match="session"):
        await tiny_client.get("/failing")
    assert EVENTS == ["opened", "rolled back"]


async def test_dependency_overrides_are_left_to_fastapi(
    tiny: FastAPI, tiny_client: httpx.AsyncClient
) -> None:
    async def overridden() -> list[str]:
        return ["overridden"]

    tiny.dependency_overrides[_scopes_seen] = overridden
    response = await tiny_client.get("/simple/ada")
    assert response.json()["seen"] == ["overridden"]
