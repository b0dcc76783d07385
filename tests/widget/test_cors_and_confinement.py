"""CORS for the widget routes alone, and each kind of key refused where it does not belong."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import auth
from tests.widget.support import ELSEWHERE, SHOP, error_code, make_site, start

CORS_HEADERS = ("access-control-allow-origin", "access-control-allow-methods",
                "access-control-allow-headers", "access-control-allow-credentials")  # fmt: skip


def has_no_cors(response: httpx.Response) -> bool:
    return not any(name in response.headers for name in CORS_HEADERS)


async def test_an_allowed_origin_gets_its_cors_headers_on_every_answer(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    site = await make_site(app)
    config = await client.get("/v1/widget/config", headers=site.headers())
    missing = await client.get("/v1/widget/conversations/conv_x/messages",
                               headers=site.headers(**{"X-Visitor-Token": "byv_x"}))  # fmt: skip
    invalid = await client.post("/v1/widget/conversations", headers=site.headers(),
                                json={"unknown": 1})  # fmt: skip
    assert (config.status_code, missing.status_code, invalid.status_code) == (200, 404, 422)
    for response in (config, missing, invalid):
        assert response.headers["access-control-allow-origin"] == SHOP
        assert "Origin" in response.headers["vary"]
        assert "Retry-After" in response.headers["access-control-expose-headers"]
        assert "access-control-allow-credentials" not in response.headers


async def test_a_disallowed_origin_gets_403_and_no_cors_header(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    site = await make_site(app)
    for method, path in (("GET", "/v1/widget/config"), ("POST", "/v1/widget/conversations")):
        response = await client.request(method, path, headers=site.headers(ELSEWHERE))
        assert (response.status_code, error_code(response)) == (403, "origin_not_allowed")
        assert response.json()["error"]["type"] == "insufficient_permissions"
        assert has_no_cors(response)
    # A lookalike is not a subdomain, and another port or scheme is another origin.
    for origin in ("https://shop.example.evil.example", "https://evilshop.example",
                   "http://shop.example", "https://shop.example:8443", "null"):  # fmt: skip
        response = await client.get("/v1/widget/config", headers=site.headers(origin))
        assert response.status_code == 403, origin


async def test_wildcard_origins_allow_subdomains_only(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    site = await make_site(app, origins=["https://*.shop.example", "http://localhost:3000"])
    for origin, status in (("https://eu.shop.example", 200), ("https://a.b.shop.example", 200),
                           ("http://localhost:3000", 200), ("https://shop.example", 403),
                           ("https://eu.shop.example.org", 403), ("http://eu.shop.example", 403)):  # fmt: skip
        response = await client.get("/v1/widget/config", headers=site.headers(origin))
        assert response.status_code == status, origin


async def test_a_server_without_origin_may_call_the_widget_routes(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    site = await make_site(app)
    response = await client.get("/v1/widget/config", headers=site.headers(None))
    assert response.status_code == 200 and has_no_cors(response)


async def test_preflights_are_answered_from_the_active_keys_origins(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    site = await make_site(app, origins=["https://preflight.example"])
    asked = {"Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization, content-type, x-visitor-token"}  # fmt: skip
    for path in ("/v1/widget/config", "/v1/widget/conversations",
                 "/v1/widget/conversations/conv_x/messages"):  # fmt: skip
        allowed = await client.options(
            path, headers={"Origin": "https://preflight.example", **asked}
        )
        assert allowed.status_code == 204, path
        assert allowed.headers["access-control-allow-origin"] == "https://preflight.example"
        allowed_headers = allowed.headers["access-control-allow-headers"].lower()
        for name in ("authorization", "content-type", "x-visitor-token"):
            assert name in allowed_headers
        assert "POST" in allowed.headers["access-control-allow-methods"]
        assert allowed.headers["vary"] == "Origin"
    refused = await client.options("/v1/widget/config", headers={"Origin": ELSEWHERE, **asked})
    assert (refused.status_code, error_code(refused)) == (403, "origin_not_allowed")
    assert has_no_cors(refused)

    await client.delete(f"/v1/bots/{site.bot.id}/publishable-keys/{site.publishable_id}",
                        headers=auth(site.secret))  # fmt: skip
    gone = await client.options(
        "/v1/widget/config", headers={"Origin": "https://preflight.example", **asked}
    )
    assert gone.status_code == 403


@pytest.mark.parametrize("path", ["/v1/bots", "/v1/me", "/v1/conversations"])
async def test_secret_key_routes_never_send_cors_headers(
    app: FastAPI, client: httpx.AsyncClient, path: str
) -> None:
    site = await make_site(app)
    same_site = await client.get(
        path, headers={**auth(site.secret), "Origin": "http://127.0.0.1:8000"}
    )
    assert same_site.status_code == 200 and has_no_cors(same_site)
    preflight = await client.options(
        path, headers={"Origin": SHOP, "Access-Control-Request-Method": "GET"}
    )
    assert preflight.status_code >= 400 and has_no_cors(preflight)


async def test_a_publishable_key_elsewhere_is_401(app: FastAPI, client: httpx.AsyncClient) -> None:
    site = await make_site(app)
    for path in ("/v1/me", f"/v1/bots/{site.bot.id}", "/v1/api-keys"):
        response = await client.get(path, headers=site.headers())
        assert (response.status_code, error_code(response)) == (401, "publishable_key_not_allowed")
        assert response.json()["error"]["type"] == "invalid_api_key"
        assert "secret key from your server" in response.json()["error"]["message"]
        assert has_no_cors(response)


async def key_warnings(
    app: FastAPI, client: httpx.AsyncClient, secret: str, key_id: str
) -> list[str]:
    await app.state.request_log.flush()
    shown = await client.get(f"/v1/api-keys/{key_id}", headers=auth(secret))
    return [w["code"] for w in shown.json()["warnings"]]


async def test_a_secret_key_on_a_widget_route_is_403_and_flagged(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    site = await make_site(app)
    assert "exposed_in_browser" not in await key_warnings(app, client, site.secret, site.secret_id)
    response = await client.get("/v1/widget/config", headers={**auth(site.secret), "Origin": SHOP})
    assert (response.status_code, error_code(response)) == (403, "secret_key_in_browser")
    assert response.json()["error"]["type"] == "insufficient_permissions"
    assert site.secret not in response.text
    assert "exposed_in_browser" in await key_warnings(app, client, site.secret, site.secret_id)


async def test_a_secret_key_from_another_sites_page_is_403_and_flagged(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    site = await make_site(app)
    response = await client.get("/v1/bots", headers={**auth(site.secret), "Origin": SHOP})
    assert (response.status_code, error_code(response)) == (403, "secret_key_in_browser")
    assert has_no_cors(response)
    assert "exposed_in_browser" in await key_warnings(app, client, site.secret, site.secret_id)
    # From Botyard's own origin (its /docs page) the key is fine.
    own = await client.get(
        "/v1/bots", headers={**auth(site.secret), "Origin": "http://127.0.0.1:8000"}
    )
    assert own.status_code == 200


async def test_malformed_and_unknown_publishable_keys(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    site = await make_site(app)
    broken = site.publishable[:-1] + ("A" if site.publishable[-1] != "A" else "B")
    for token, code in ((broken, "malformed_api_key"), ("byp_short", "malformed_api_key"),
                        (None, "missing_api_key")):  # fmt: skip
        headers = {"Origin": SHOP} | ({"Authorization": f"Bearer {token}"} if token else {})
        response = await client.get("/v1/widget/config", headers=headers)
        assert (response.status_code, error_code(response)) == (401, code)
    started = await start(client, site)
    assert started["visitor_token"] != site.publishable
