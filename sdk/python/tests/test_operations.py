"""Every method of both clients sends its route's HTTP method to its path, with its body."""

from __future__ import annotations

import inspect
import json
from typing import Any

import httpx
import pytest

from botyard_sdk import APIError
from botyard_sdk._operations import ListOperation
from botyard_sdk._routes import ROUTES
from botyard_sdk.resources import Root
from sdk_support import Script, async_client, envelope, sync_client

FAILURE = envelope(500, "boom", "Stop here.", type="api_error")


LIST_ARGUMENTS: dict[str, Any] = {"scopes": ["read"], "allowed_origins": ["https://a.example"]}
"""Required keywords that take a list, with a value of that kind."""


def arguments(method: Any) -> tuple[list[str], dict[str, Any]]:
    """Distinct ids for the positional parameters, a value for each required keyword."""
    positional: list[str] = []
    keywords: dict[str, Any] = {}
    for parameter in list(inspect.signature(method.build).parameters.values())[1:]:
        if parameter.kind is parameter.POSITIONAL_OR_KEYWORD:
            positional.append(f"{parameter.name}-{len(positional)}")
        elif parameter.default is parameter.empty:
            keywords[parameter.name] = LIST_ARGUMENTS.get(parameter.name, "given")
    return positional, keywords


def resolve(client: Root[Any], name: str) -> Any:
    target: Any = client
    for part in name.split("."):
        target = getattr(target, part)
    return target


def descriptor(client: Root[Any], name: str) -> Any:
    """The Operation or ListOperation behind ``client.<name>``."""
    owner, _, attribute = name.rpartition(".")
    return inspect.getattr_static(resolve(client, owner) if owner else client, attribute)


def expected_path(name: str, positional: list[str]) -> str:
    route = ROUTES[name]
    names = [part[1:-1] for part in route.path.split("/") if part.startswith("{")]
    return route.path.format(**dict(zip(names, positional, strict=False)))


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_each_sync_method_sends_its_route(name: str) -> None:
    script = Script(FAILURE)
    with sync_client(script, max_retries=0) as client:
        method = descriptor(client, name)
        positional, keywords = arguments(method)
        with pytest.raises(APIError):
            answer = resolve(client, name)(*positional, **keywords)
            if isinstance(method, ListOperation):
                answer.first_page()
    (request,) = script.requests
    check(request, name, positional, keywords)


@pytest.mark.parametrize("name", sorted(ROUTES))
async def test_each_async_method_sends_its_route(name: str) -> None:
    script = Script(FAILURE)
    async with async_client(script, max_retries=0) as client:
        method = descriptor(client, name)
        positional, keywords = arguments(method)
        with pytest.raises(APIError):
            answer = resolve(client, name)(*positional, **keywords)
            if isinstance(method, ListOperation):
                await answer.first_page()
            else:
                await answer
    (request,) = script.requests
    check(request, name, positional, keywords)


def check(
    request: httpx.Request, name: str, positional: list[str], keywords: dict[str, Any]
) -> None:
    assert request.method == ROUTES[name].method
    assert request.url.path == expected_path(name, positional)
    if request.method in {"POST", "PATCH"}:
        body = json.loads(request.content or b"{}")
        assert keywords.items() <= body.items()
    else:
        assert request.content == b""
