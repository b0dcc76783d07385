"""Issue 16 item 7: a body that is not JSON is answered after authentication, saying what to fix.

Before, ``{"name":"Bot A",}`` was answered 422 "17: JSON decode error" with ``param: "17"``
before the key was even looked at, a JSON body sent as ``text/plain`` was a validation error
about the body's type, and none of these (nor a 413) reached the organization's request log,
since no key had been recognised.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import auth, make_key, make_org

TRAILING_COMMA = b'{"name":"Bot A",}'
JSON = {"content-type": "application/json"}


@pytest.fixture
async def write_key(app: FastAPI) -> str:
    org = await make_org(app)
    _, plaintext = await make_key(app, org, ["admin"])
    return plaintext


async def test_authentication_comes_before_the_body(client: httpx.AsyncClient) -> None:
    for headers in (JSON, {"content-type": "text/plain"}, {}):
        response = await client.post("/v1/bots", content=TRAILING_COMMA, headers=headers)
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "missing_api_key"


async def test_malformed_json_is_400_with_line_and_column(
    client: httpx.AsyncClient, write_key: str
) -> None:
    response = await client.post(
        "/v1/bots", content=TRAILING_COMMA, headers={**JSON, **auth(write_key)}
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_json"
    assert "line 1, column 17" in error["message"], error
    assert "param" not in error

    multiline = b'{\n  "name": "Bot A",\n  "description": "unterminated\n}'
    response = await client.post("/v1/bots", content=multiline, headers={**JSON, **auth(write_key)})
    assert response.status_code == 400, response.text
    assert "control character at line 3, column 31" in response.json()["error"]["message"]

    # An optional body (rotation) is not silently ignored when it is broken.
    keys = await client.get("/v1/api-keys", headers=auth(write_key))
    key_id = keys.json()["data"][0]["id"]
    rotate = await client.post(
        f"/v1/api-keys/{key_id}/rotate", content=b"{", headers={**JSON, **auth(write_key)}
    )
    assert rotate.status_code == 400, rotate.text
    assert rotate.json()["error"]["code"] == "invalid_json"
    assert (await client.get(f"/v1/api-keys/{key_id}", headers=auth(write_key))).json()[
        "rotated_to"
    ] is None


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", None], ids=str
)
async def test_json_sent_as_another_type_says_to_set_the_content_type(
    client: httpx.AsyncClient, write_key: str, content_type: str | None
) -> None:
    headers = auth(write_key) | ({"content-type": content_type} if content_type else {})
    response = await client.post("/v1/bots", content=b'{"name": "Bot A"}', headers=headers)
    assert response.status_code == 415, response.text
    error = response.json()["error"]
    assert error["code"] == "unsupported_media_type"
    assert "Content-Type: application/json" in error["message"]


async def test_these_refusals_and_413s_reach_the_request_log(
    app: FastAPI, client: httpx.AsyncClient, write_key: str
) -> None:
    headers = auth(write_key)
    sent = {
        "invalid_json": await client.post(
            "/v1/bots", content=TRAILING_COMMA, headers={**JSON, **headers}
        ),
        "unsupported_media_type": await client.post(
            "/v1/bots",
            content=b'{"name": "Bot A"}',
            headers={"content-type": "text/plain", **headers},
        ),
        "payload_too_large": await client.post(
            "/v1/bots",
            content=b'{"name": "' + b"a" * 1_100_000 + b'"}',
            headers={**JSON, **headers},
        ),
    }
    assert {code: r.status_code for code, r in sent.items()} == {
        "invalid_json": 400,
        "unsupported_media_type": 415,
        "payload_too_large": 413,
    }
    await app.state.request_log.flush()
    logs = await client.get("/v1/logs", params={"status": "4xx", "limit": 100}, headers=headers)
    assert logs.status_code == 200, logs.text
    by_request = {row["request_id"]: row for row in logs.json()["data"]}
    for code, response in sent.items():
        row = by_request.get(response.headers["x-request-id"])
        assert row is not None, (code, logs.json()["data"])
        assert (row["status"], row["error_code"], row["route"]) == (
            response.status_code,
            code,
            "/v1/bots",
        )
        assert row["key_id"] is not None
