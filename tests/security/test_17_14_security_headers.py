"""Issue 17.14: nosniff on every response, HSTS over HTTPS (directly or behind a trusted proxy
that says so, never because a client says so), and no ``server: uvicorn`` banner."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import auth, make_key, make_org
from tests.security.support import Server, app_with, client_from, serve_sqlite

HSTS = "max-age=31536000; includeSubDomains"
PROXY = "10.1.2.3"


@pytest.fixture(scope="module")
async def proxied_app(database_url: str) -> AsyncIterator[FastAPI]:
    async with app_with(database_url, trusted_proxies="10.0.0.0/8") as application:

        @application.get("/v1/test-only-crash", include_in_schema=False)
        async def crash() -> None:
            raise RuntimeError("boom")

        yield application


def _paths(key: str) -> list[tuple[str, dict[str, str], int]]:
    """(path, headers, expected status) across the API, errors, the dashboard and the docs."""
    return [
        ("/v1/me", auth(key), 200),
        ("/v1/me", {}, 401),
        ("/v1/bots/bot_missing", auth(key), 404),
        ("/v1/no-such-route", auth(key), 404),
        ("/v1/bots?api_key=x", {}, 401),
        ("/healthz", {}, 200),
        ("/dashboard/login", {}, 200),
        ("/docs", {}, 200),
        ("/openapi.json", {}, 200),
        ("/v1/test-only-crash", {}, 500),
    ]


async def test_nosniff_everywhere_and_hsts_only_over_https(proxied_app: FastAPI) -> None:
    app = proxied_app
    _, key = await make_key(app, await make_org(app))
    clients = {
        # (peer, base URL, extra headers): does the response say HSTS?
        "plain http": ("198.51.100.1", "http://testserver", {}, False),
        "direct https": ("198.51.100.1", "https://testserver", {}, True),
        "https behind the trusted proxy": (
            PROXY, "http://testserver", {"X-Forwarded-Proto": "https"}, True,
        ),
        "http behind the trusted proxy": (
            PROXY, "http://testserver", {"X-Forwarded-Proto": "http"}, False,
        ),
        "a client claiming https": (
            "198.51.100.1", "http://testserver", {"X-Forwarded-Proto": "https"}, False,
        ),
    }  # fmt: skip
    for label, (peer, base_url, extra, expect_hsts) in clients.items():
        transport = httpx.ASGITransport(app=app, client=(peer, 41000), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as c:
            for path, headers, status in _paths(key):
                response = await c.get(path, headers={**headers, **extra})
                where = (label, path)
                assert response.status_code == status, (where, response.text[:200])
                assert response.headers.get_list("x-content-type-options") == ["nosniff"], where
                if expect_hsts:
                    assert response.headers["strict-transport-security"] == HSTS, where
                else:
                    assert "strict-transport-security" not in response.headers, where
                assert "server" not in response.headers, where

    async with client_from(app, "198.51.100.1") as c:
        cached = await c.get("/v1/bots", headers=auth(key))
        not_modified = await c.get(
            "/v1/bots", headers={**auth(key), "If-None-Match": cached.headers["etag"]}
        )
    assert not_modified.status_code == 304
    assert not_modified.headers["x-content-type-options"] == "nosniff"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from serve_sqlite(tmp_path_factory.mktemp("serve-headers"))


@pytest.mark.slow
def test_botyard_serve_sends_no_server_banner(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for path in ("/healthz", "/v1/me", "/dashboard/login", "/nowhere"):
            response = client.get(path)
            assert "server" not in response.headers, path
            assert response.headers["x-content-type-options"] == "nosniff", path
            assert "strict-transport-security" not in response.headers, path
