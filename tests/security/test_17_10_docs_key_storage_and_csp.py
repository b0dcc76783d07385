"""Issue 17 item 10: /docs kept pasted keys in localStorage, loaded an unpinned Swagger UI from a
CDN, and no HTML page had a CSP or refused to be framed.

The browser side of the attack (a hostile page framing /docs and the login form; a key pasted
into Authorize surviving a reload) is in tests/apidocs/test_docs_browser.py.
"""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from tests.apidocs.test_docs_pages import FOREIGN, policy_of


async def test_swagger_ui_never_persists_a_pasted_key(client: httpx.AsyncClient) -> None:
    page = (await client.get("/docs")).text
    assert "persistAuthorization&quot;: false" in page
    assert "persistAuthorization&quot;: true" not in page
    assert "validatorUrl&quot;: null" in page  # the validator badge would call another host
    assert "<script>" not in page  # nothing inline: the start-up script is a served file
    assert not FOREIGN.search(page)  # no CDN: Swagger UI comes from the installed package


async def test_every_html_page_has_a_csp_and_cannot_be_framed(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Every GET route without path parameters that answers HTML: new pages are covered too."""
    checked = []
    for context in iter_route_contexts(app.routes):
        route, path = context.original_route, context.path or ""
        if not isinstance(route, APIRoute) or "GET" not in (route.methods or ()):
            continue
        if "{" in path or path.startswith("/v1/"):
            continue
        response = await client.get(path)
        if not response.headers.get("content-type", "").startswith("text/html"):
            continue
        checked.append(path)
        policy = policy_of(response)
        assert policy["frame-ancestors"] == ["'none'"], path
        assert policy["base-uri"] == ["'none'"], path
        assert "'unsafe-inline'" not in policy["script-src"], path
        assert response.headers["x-frame-options"] == "DENY", path
    assert {"/docs", "/redoc", "/docs/errors", "/dashboard/login"} <= set(checked)


async def test_the_errors_reference_allows_only_its_own_inline_style(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/docs/errors")
    policy = policy_of(response)
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"][0] == "'self'" and policy["style-src"][1].startswith("'sha256-")
    assert "'unsafe-inline'" not in policy["style-src"]
    assert response.headers["x-frame-options"] == "DENY"
