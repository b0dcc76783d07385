"""Issue 17.17 (and issue 16 item 8): what fuzzing found the schema and the API disagreeing on.

- ``answer_threshold: false`` was read as 0.0 (and ``rate_limit: true`` as 1): refused now;
- ``until=0.5`` was read as half a second after 1970: every time parameter is refused unless
  it is a written-out RFC 3339 time;
- an empty ``status=`` was refused: it means any status, on every list that filters by one;
- analytics with ``from == to`` was refused: it is an empty range;
- a 405's ``Allow`` named one route's methods: it names every method of the path
  (``PUT /v1/bots`` → ``Allow: GET, POST``).

Routes are found in the app's route table, so new ones are covered as they appear.
"""

from __future__ import annotations

from collections import defaultdict

import httpx
from fastapi import FastAPI

from tests.security.test_17_12_crafted_input import (
    Tenant,
    api_routes,
    is_time,
    query_params,
    tenant,  # noqa: F401  (fixture)
    url_of,
)


def assert_invalid(response: httpx.Response, param: str) -> None:
    assert response.status_code == 422, response.text
    assert response.json()["error"]["param"] == param, response.text


async def test_booleans_are_not_numbers(client: httpx.AsyncClient, tenant: Tenant) -> None:  # noqa: F811
    headers = tenant.secret_headers
    settings = f"/v1/bots/{tenant.ids['bot_id']}/settings"
    for value in (False, True):
        response = await client.patch(settings, json={"answer_threshold": value}, headers=headers)
        assert_invalid(response, "answer_threshold")
        created = await client.post(
            "/v1/bots", json={"name": "Nits", "answer_threshold": value}, headers=headers
        )
        assert_invalid(created, "answer_threshold")
        key = await client.post(
            "/v1/api-keys",
            json={"name": "nits", "scopes": ["read"], "rate_limit": value},
            headers=headers,
        )
        assert_invalid(key, "rate_limit")
        patched = await client.patch(
            f"/v1/api-keys/{tenant.ids['key_id']}", json={"rate_limit": value}, headers=headers
        )
        assert_invalid(patched, "rate_limit")
    for number in (0, 1, 0.25):
        response = await client.patch(settings, json={"answer_threshold": number}, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["answer_threshold"] == number


async def test_times_must_be_written_out(
    app: FastAPI,
    client: httpx.AsyncClient,
    tenant: Tenant,  # noqa: F811
) -> None:
    headers = tenant.secret_headers
    checked = []
    for route in api_routes(app):
        if "GET" not in route.methods:
            continue
        for field in filter(is_time, query_params(route)):
            for value in ("0.5", "1700000000", "-1", "true"):
                response = await client.get(
                    url_of(route, tenant), params={field.alias: value}, headers=headers
                )
                assert_invalid(response, field.alias)
            accepted = await client.get(
                url_of(route, tenant), params={field.alias: "2026-01-01T00:00:00Z"}, headers=headers
            )
            assert accepted.status_code < 500, accepted.text
            checked.append(f"{route.path}?{field.alias}")
    assert "/v1/conversations?until" in checked and "/v1/logs?until" in checked, checked


async def test_an_empty_status_filter_means_any(
    app: FastAPI,
    client: httpx.AsyncClient,
    tenant: Tenant,  # noqa: F811
) -> None:
    headers = tenant.secret_headers
    checked = []
    for route in api_routes(app):
        if "GET" not in route.methods or "status" not in {p.alias for p in query_params(route)}:
            continue
        url = url_of(route, tenant)
        unfiltered = await client.get(url, headers=headers)
        blank = await client.get(url, params={"status": ""}, headers=headers)
        assert blank.status_code == 200, (route.path, blank.text)
        assert [r["id"] for r in blank.json()["data"]] == [
            r["id"] for r in unfiltered.json()["data"]
        ], route.path
        checked.append(route.path)
    assert {"/v1/conversations", "/v1/api-keys", "/v1/logs", "/v1/team/invitations"} <= set(
        checked
    ), checked


async def test_analytics_from_equal_to_is_an_empty_range(
    client: httpx.AsyncClient,
    tenant: Tenant,  # noqa: F811
) -> None:
    headers = tenant.secret_headers
    moment = "2031-01-05T00:00:00Z"
    for interval in ("day", "hour"):
        response = await client.get(
            "/v1/analytics",
            params={"from": moment, "to": moment, "interval": interval},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["series"] == []
        assert body["totals"]["conversations"] == 0
    reversed_range = await client.get(
        "/v1/analytics",
        params={"from": "2031-01-06T00:00:00Z", "to": moment},
        headers=headers,
    )
    assert_invalid(reversed_range, "from")


async def test_405_allow_lists_every_method_of_the_path(
    app: FastAPI,
    client: httpx.AsyncClient,
    tenant: Tenant,  # noqa: F811
) -> None:
    headers = tenant.secret_headers
    methods_of: dict[str, set[str]] = defaultdict(set)
    routes = {}
    for route in api_routes(app):
        routes[route.path] = route
    for any_route in app.routes:  # the widget's preflight OPTIONS routes too
        if getattr(any_route, "path", None) in routes:
            methods_of[any_route.path] |= set(getattr(any_route, "methods", None) or ())
    order = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    for path, methods in methods_of.items():
        refused = next(m for m in ["PUT", "PATCH", "DELETE", "POST", "GET"] if m not in methods)
        response = await client.request(refused, url_of(routes[path], tenant), headers=headers)
        assert response.status_code == 405, (refused, path, response.text)
        expected = ", ".join(m for m in order if m in methods)
        assert response.headers["allow"] == expected, (refused, path)
        assert response.json()["error"]["code"] == "method_not_allowed"
    bots = await client.put("/v1/bots", headers=headers)
    assert bots.headers["allow"] == "GET, POST"
