"""Cursors: opaque round trips, and tampered ones refused with a 400 rather than a crash."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from botyard.core.pagination import decode_cursor, encode_cursor
from tests.factories import auth, make_key, make_org


def test_cursor_round_trip() -> None:
    at = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
    assert decode_cursor(encode_cursor(at, "bot_abc123")) == (at, "bot_abc123")


def forged(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not-base64!!",
        forged(["2026-05-01T12:30:00", "bot_abc"]),
        forged(["2026-05-01T12:30:00+00:00", "bot_\u0000x"]),
        forged(["yesterday", "bot_abc"]),
        forged({"a": 1}),
    ],
)
async def test_tampered_cursor_is_a_400_naming_the_cursor(
    app: FastAPI, client: httpx.AsyncClient, cursor: str
) -> None:
    _, key = await make_key(app, await make_org(app))
    response = await client.get("/v1/bots", params={"cursor": cursor}, headers=auth(key))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"
    assert response.json()["error"]["param"] == "cursor"
