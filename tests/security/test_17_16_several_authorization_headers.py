"""Issue 17.16: a request with several Authorization headers is refused, never resolved to
one of them (a proxy and the application could each pick a different one)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.factories import make_key, make_org


async def test_several_authorization_headers_are_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _, mine = await make_key(app, await make_org(app))
    _, theirs = await make_key(app, await make_org(app), scopes=["admin"])
    for pair in (
        [mine, theirs],
        [mine, mine],  # even the same valid key twice
        ["byk_" + "A" * 38, mine],  # a junk first value must not hide behind the real one
    ):
        response = await client.get(
            "/v1/me", headers=[("Authorization", f"Bearer {key}") for key in pair]
        )
        assert response.status_code == 401, response.text
        error = response.json()["error"]
        assert (error["type"], error["code"]) == (
            "invalid_api_key",
            "malformed_authorization_header",
        )
        assert "more than one Authorization header" in error["message"]
        assert mine not in response.text and theirs not in response.text

    single = await client.get("/v1/me", headers={"Authorization": f"Bearer {mine}"})
    assert single.status_code == 200
