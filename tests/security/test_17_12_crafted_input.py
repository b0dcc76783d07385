"""Issue 17.12: crafted input answers a 4xx naming the parameter, never a 500.

Three attacks found by fuzzing, each sent to every route that can receive it, found in the
app's own route table (so a new list endpoint, time filter or string field is covered as
soon as it exists):

- cursors such as ``["0001-01-01T00:00:00+14:00","a"]`` (a time that overflows in UTC) on
  every list endpoint: 400 ``invalid_cursor``, ``param: cursor``;
- ``since``/``until`` (and every other time parameter) that overflow once converted to UTC:
  never a 500; a 4xx names the parameter;
- a NUL character in every path parameter, query parameter and string body field (PostgreSQL
  cannot store one): 400 ``invalid_characters`` naming it.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from tests.factories import auth, make_user
from tests.webhooks.support import PUBLIC_URL
from tests.widget.support import make_site, start

CRAFTED_CURSORS = [
    ["0001-01-01T00:00:00+14:00", "a"],
    ["9999-12-31T23:59:59-14:00", "a"],
    ["0001-01-01T00:00:00+00:00", "a"],
    ["2026-01-01T00:00:00+00:00", "a\u0000"],
    ["2026-01-01T00:00:00\u0000+00:00", "a"],
    ["2026-01-01T00:00:00+00:00", 7],
    ["2026-01-01T00:00:00+00:00"],
    "[" * 2_000,
]
OVERFLOWING_TIMES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]
EXTREME_TIMES = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "0001-01-01", "9999-12-31"]
NUL_TEXT = "nul\u0000here"
VALID_BODIES = {("POST", "/v1/api-keys"): {"name": "timed", "scopes": ["read"]}}
"""The other required fields, so the answer is about the time field under test."""


def encoded(cursor: object) -> str:
    raw = cursor if isinstance(cursor, str) else json.dumps(cursor)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def api_routes(app: FastAPI) -> list[APIRoute]:
    routes = [r for r in app.routes if isinstance(r, APIRoute) and r.path.startswith("/v1/")]
    assert len(routes) >= 30
    return routes


def query_params(route: APIRoute) -> list[Any]:
    found = []

    def walk(dependant: Any) -> None:
        found.extend(dependant.query_params)
        for sub in dependant.dependencies:
            walk(sub)

    walk(route.dependant)
    return found


def mentions(annotation: Any, wanted: type) -> bool:
    """Whether a parameter's type is ``wanted``, possibly optional or annotated."""
    return annotation is wanted or any(mentions(a, wanted) for a in get_args(annotation))


def is_time(field: Any) -> bool:
    return mentions(field.field_info.annotation, datetime)


def is_text(field: Any) -> bool:
    return mentions(field.field_info.annotation, str)


def list_routes(app: FastAPI) -> list[APIRoute]:
    routes = [
        r
        for r in api_routes(app)
        if "GET" in r.methods and "cursor" in {p.alias for p in query_params(r)}
    ]
    assert len(routes) >= 8, [r.path for r in routes]
    return routes


@dataclass
class Tenant:
    """An organization with one real object of every kind a route's path can name."""

    secret_headers: dict[str, str]
    widget_headers: dict[str, str]
    ids: dict[str, str]
    widget_ids: dict[str, str]

    def headers(self, route: APIRoute) -> dict[str, str]:
        """A publishable key and visitor token on widget routes, the admin key elsewhere."""
        return self.widget_headers if route.path.startswith(WIDGET) else self.secret_headers

    def url(self, route: APIRoute, **override: str) -> str:
        ids = {**self.ids, **(self.widget_ids if route.path.startswith(WIDGET) else {})}
        url = route.path
        for name in route.param_convertors:
            value = override.get(name) or ids.get(name)
            assert value is not None, f"{route.path}: add a real id for {name!r} to the fixture"
            url = url.replace("{" + name + "}", value)
        return url


WIDGET = "/v1/widget/"


@pytest.fixture
async def tenant(app: FastAPI, client: httpx.AsyncClient) -> Tenant:
    site = await make_site(app)
    headers = auth(site.secret)

    async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await client.post(path, headers=headers, json=body)
        assert response.status_code == 201, (path, response.text)
        return dict(response.json())

    bot_id = site.bot.id
    knowledge = await post(f"/v1/bots/{bot_id}/knowledge", {"question": "Hours?", "answer": "9-5."})
    conversation = await post(f"/v1/bots/{bot_id}/conversations", {})
    key = await post("/v1/api-keys", {"name": "target", "scopes": ["read"]})
    webhook = await post("/v1/webhooks", {"url": PUBLIC_URL, "events": ["*"]})
    invitation = await post("/v1/team/members", {"email": "crafted@example.com"})
    member = await make_user(app, site.org, "member")
    visit = await start(client, site)
    ids = {
        "bot_id": bot_id,
        "kb_id": knowledge["id"],
        "conversation_id": conversation["id"],
        "key_id": key["id"],
        "webhook_id": webhook["id"],
        "invitation_id": invitation["id"],
        "usr_id": member.id,
        # No route here lists deliveries by this id; a well-formed one is enough.
        "delivery_id": "dlv_doesNotExist00000000",
    }
    return Tenant(
        headers,
        site.headers(**{"X-Visitor-Token": visit["visitor_token"]}),
        ids,
        {"conversation_id": visit["conversation"]["id"], "key_id": site.publishable_id},
    )


def url_of(route: APIRoute, tenant: Tenant, **override: str) -> str:
    return tenant.url(route, **override)


def assert_refused(response: httpx.Response, param: str, status: int | None = None) -> None:
    label = f"{response.request.method} {response.request.url}"
    assert response.status_code < 500, (label, response.text)
    assert 400 <= response.status_code < 500, (label, response.status_code, response.text)
    if status is not None:
        assert response.status_code == status, (label, response.text)
    assert response.json()["error"].get("param") == param, (label, response.text)


async def test_crafted_cursors_answer_400_on_every_list_endpoint(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    for route in list_routes(app):
        for cursor in CRAFTED_CURSORS:
            response = await client.get(
                url_of(route, tenant),
                params={"cursor": encoded(cursor)},
                headers=tenant.headers(route),
            )
            assert_refused(response, "cursor", 400)
            assert response.json()["error"]["code"] == "invalid_cursor", response.text


async def test_times_that_overflow_never_answer_500(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    checked = set()
    for route in api_routes(app):
        if "GET" not in route.methods:
            continue
        for field in filter(is_time, query_params(route)):
            checked.add(f"{route.path}?{field.alias}")
            for value in OVERFLOWING_TIMES + EXTREME_TIMES:
                response = await client.get(
                    url_of(route, tenant),
                    params={field.alias: value},
                    headers=tenant.headers(route),
                )
                assert response.status_code < 500, (route.path, field.alias, value, response.text)
                if response.status_code >= 400:
                    assert response.json()["error"].get("param") in ("since", "until", "from", "to")
    assert {"/v1/logs?since", "/v1/logs/usage?until", "/v1/audit-log?since"} <= checked, checked


async def test_logs_usage_and_audit_take_the_ends_of_the_calendar(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    """A filter bound no row can be outside of selects everything rather than failing."""
    headers = tenant.secret_headers
    for path in ("/v1/logs", "/v1/audit-log"):
        response = await client.get(
            path,
            params={"since": OVERFLOWING_TIMES[0], "until": OVERFLOWING_TIMES[1]},
            headers=headers,
        )
        assert response.status_code == 200, (path, response.text)
    audit = await client.get(
        "/v1/audit-log", params={"since": OVERFLOWING_TIMES[0]}, headers=headers
    )
    assert audit.json()["data"], "the organization's own events are within any bound"
    usage = await client.get(
        "/v1/logs/usage", params={"until": OVERFLOWING_TIMES[1]}, headers=headers
    )
    assert usage.status_code == 200, usage.text
    too_long = await client.get(
        "/v1/logs/usage", params={"since": OVERFLOWING_TIMES[0]}, headers=headers
    )
    assert_refused(too_long, "since", 400)


async def test_nul_in_any_path_or_query_parameter_is_refused(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    for route in api_routes(app):
        for method in sorted(route.methods):
            for name in route.param_convertors:
                url = url_of(route, tenant, **{name: "x%00here"})
                response = await client.request(method, url, headers=tenant.headers(route))
                assert_refused(response, name, 400)
                assert response.json()["error"]["code"] == "invalid_characters"
            for field in filter(is_text, query_params(route)):
                response = await client.request(
                    method,
                    url_of(route, tenant),
                    params={field.alias: NUL_TEXT},
                    headers=tenant.headers(route),
                )
                assert_refused(response, field.alias, 400)


def text_fields(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """Each property of a body schema that takes text, with a value for it holding a NUL."""
    values: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        options = prop.get("anyOf", [prop])
        if any(o.get("type") == "string" for o in options):
            values[name] = NUL_TEXT
        elif any(
            o.get("type") == "array" and o.get("items", {}).get("type") == "string" for o in options
        ):
            values[name] = ["fine", NUL_TEXT]
    return values


async def test_nul_in_any_string_body_field_is_refused(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    document = (await client.get("/openapi.json")).json()
    definitions = document["components"]["schemas"]
    checked = []
    for route in api_routes(app):
        if route.body_field is None:
            continue
        for method in sorted(route.methods):
            operation = document["paths"][route.path][method.lower()]
            ref = operation["requestBody"]["content"]["application/json"]["schema"]
            options = ref.get("anyOf", [ref])
            (model,) = [o for o in options if "$ref" in o]
            schema = definitions[model["$ref"].rsplit("/", 1)[-1]]
            for name, value in text_fields(schema, definitions).items():
                response = await client.request(
                    method, url_of(route, tenant), json={name: value}, headers=tenant.headers(route)
                )
                expected = name if isinstance(value, str) else f"{name}.1"
                assert_refused(response, expected, 400)
                checked.append(f"{method} {route.path} {name}")
    assert len(checked) >= 15, checked


async def test_times_in_bodies_that_overflow_or_are_numbers_are_refused(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    """``expires_at: "9999-12-31T23:59:59-14:00"`` answered 500; a number meant epoch seconds."""
    document = (await client.get("/openapi.json")).json()
    definitions = document["components"]["schemas"]
    checked = []
    for route in api_routes(app):
        if route.body_field is None:
            continue
        for method in sorted(route.methods):
            operation = document["paths"][route.path][method.lower()]
            ref = operation["requestBody"]["content"]["application/json"]["schema"]
            (model,) = [o for o in ref.get("anyOf", [ref]) if "$ref" in o]
            schema = definitions[model["$ref"].rsplit("/", 1)[-1]]
            for name, prop in schema.get("properties", {}).items():
                if not any(o.get("format") == "date-time" for o in prop.get("anyOf", [prop])):
                    continue
                base = VALID_BODIES.get((method, route.path), {})
                for value in [*OVERFLOWING_TIMES, 99_999_999_999]:
                    response = await client.request(
                        method,
                        url_of(route, tenant),
                        json={**base, name: value},
                        headers=tenant.headers(route),
                    )
                    assert_refused(response, name)
                checked.append(f"{method} {route.path} {name}")
    assert "POST /v1/api-keys expires_at" in checked, checked


async def test_nul_in_any_dashboard_form_field_is_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Dashboard forms are checked like query strings, before routing and sign-in."""
    posted = []
    for context in iter_route_contexts(app.routes):
        path = context.path or ""
        methods = context.methods or getattr(context.original_route, "methods", None) or ()
        if not path.startswith("/dashboard") or "POST" not in methods:
            continue
        url = re.sub(r"\{[^}]+\}", "x", path)
        response = await client.post(url, data={"csrf_token": "x", "field": NUL_TEXT})
        assert_refused(response, "field", 400)
        posted.append(path)
    assert len(posted) >= 10, posted
    fine = await client.post("/dashboard/login", data={"email": "a@example.com", "password": "x"})
    assert fine.status_code != 400 or "invalid_characters" not in fine.text
