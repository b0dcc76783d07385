"""/docs and /redoc load only this server's files, under a policy that runs no other script."""

from __future__ import annotations

import re

import httpx

ASSET_REFERENCE = re.compile(r'(?:src|href)="([^"]+)"')
FOREIGN = re.compile(r'(?:src|href)="(?:https?:)?//', re.IGNORECASE)


def policy_of(response: httpx.Response) -> dict[str, list[str]]:
    header = response.headers["content-security-policy"]
    return {
        name: values
        for name, *values in (part.split() for part in header.split(";") if part.strip())
    }


async def test_docs_pages_reference_only_local_assets_that_are_served(
    client: httpx.AsyncClient,
) -> None:
    for path, wanted in (
        ("/docs", {"swagger-ui-bundle.js", "swagger-ui.css", "api-docs.js"}),
        ("/redoc", {"redoc.standalone.js"}),
    ):
        page = await client.get(path)
        assert page.status_code == 200
        assert not FOREIGN.search(page.text), path
        assets = ASSET_REFERENCE.findall(page.text)
        assert {a.split("/")[-1].split("?")[0] for a in assets} == wanted
        for asset in assets:
            served = await client.get(asset)
            assert served.status_code == 200, asset
            assert served.headers["content-type"].startswith(("text/javascript", "text/css"))
            assert len(served.content) > 100_000 or "api-docs.js" in asset
            assert "immutable" in served.headers["cache-control"]
    assert (await client.get("/docs/assets/../../main.py")).status_code == 404
    assert (await client.get("/docs/assets/swagger-ui.js.map")).status_code == 404


async def test_docs_pages_allow_no_script_but_their_own(client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc"):
        policy = policy_of(await client.get(path))
        assert policy["script-src"] == ["'self'"], path
        assert policy["default-src"] == ["'self'"]
        assert policy["frame-ancestors"] == ["'none'"]
        assert policy["object-src"] == ["'none'"]
        assert "'unsafe-eval'" not in str(policy)
        assert all(not v.startswith(("http", "*")) for values in policy.values() for v in values)


async def test_the_old_fastapi_docs_routes_are_gone(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs/oauth2-redirect")).status_code == 404


async def test_every_reference_in_the_document_resolves(client: httpx.AsyncClient) -> None:
    """/redoc stops at the first $ref that points nowhere ("Invalid reference token")."""
    document = (await client.get("/openapi.json")).json()
    refs: list[str] = []

    def collect(node: object) -> None:
        if isinstance(node, dict):
            assert "$defs" not in node, "a schema kept its own $defs"
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for item in node:
                collect(item)

    collect(document)
    assert refs
    for ref in refs:
        assert ref.startswith("#/"), ref
        target: object = document
        for token in ref[2:].split("/"):
            assert isinstance(target, dict) and token in target, f"{ref} resolves to nothing"
            target = target[token]
