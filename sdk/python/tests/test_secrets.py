"""The client's API key never shows: not in repr(), not in any log line, not in exception text,
and a secret a response carries once (a new key, an invitation link) is left out of repr()."""

from __future__ import annotations

import logging

import httpx
import pytest

from botyard_sdk import APIConnectionError, APIError, AsyncBotyard, Botyard
from botyard_sdk.types import ApiKeyCreated, InvitationCreated
from sdk_support import API_KEY, FakeServer, Script, bot_json, envelope, sync_client

NEW_KEY = "byk_" + "Nw9" * 12 + "Qq"
KEY_PARTS = (API_KEY, API_KEY[4:20], API_KEY[-20:])


def assert_no_key(text: str) -> None:
    for part in KEY_PARTS:
        assert part not in text


async def test_repr_of_both_clients_shows_only_the_hint() -> None:
    sync = Botyard(API_KEY, "http://botyard.test")
    asynchronous = AsyncBotyard(API_KEY, "http://botyard.test")
    for client in (sync, asynchronous):
        text = repr(client)
        assert_no_key(text)
        assert f"{API_KEY[:8]}…{API_KEY[-4:]}" in text
        assert "http://botyard.test" in text
        assert_no_key(str(client))
    sync.close()
    await asynchronous.aclose()


def test_no_log_line_of_a_real_exchange_holds_the_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with FakeServer() as server:
        server.answer(503, {"error": {"code": "down", "message": "Down."}})
        with (
            Botyard(API_KEY, server.url, max_retries=2, sleep=lambda _: None) as client,
            pytest.raises(APIError),
        ):
            client.bots.create(name="Logged")
        assert server.seen[0][2]["Authorization"] == f"Bearer {API_KEY}"
    logged = "\n".join(
        f"{r.name} {r.getMessage()} {r.args!r} {r.__dict__!r}" for r in caplog.records
    )
    assert "Retrying POST" in logged
    assert any(r.name.startswith("httpcore") for r in caplog.records)
    assert_no_key(logged)


def test_exception_text_never_holds_the_key_even_when_an_answer_echoes_it() -> None:
    echoed = envelope(
        401,
        "malformed_api_key",
        f"Invalid API Key: {API_KEY} is not a key.",
        type="invalid_api_key",
        param=API_KEY,
    )
    with sync_client(Script(echoed)) as client, pytest.raises(APIError) as raised:
        client.me()
    for text in (str(raised.value), repr(raised.value), raised.value.message):
        assert_no_key(text)
    assert "[redacted]" in raised.value.message

    with (
        sync_client(Script(httpx.ConnectError(f"refused for {API_KEY}"))) as client,
        pytest.raises(APIConnectionError) as unreachable,
    ):
        client.me()
    assert_no_key(str(unreachable.value))


def test_secrets_shown_once_are_not_in_the_repr_of_their_objects() -> None:
    api_key = {
        "object": "api_key",
        "id": "key_1",
        "name": "CI",
        "scopes": ["read"],
        "hint": "byk_Nw9N…w9Qq",
        "created_at": "2026-01-01T00:00:00Z",
        "created_by": None,
        "expires_at": None,
        "last_used_at": None,
        "last_used_ip": None,
        "revoked_at": None,
        "rotated_to": None,
        "rotated_from": None,
        "allowed_ips": None,
        "rate_limit": None,
        "status": "active",
        "warnings": [],
        "key": NEW_KEY,
    }
    created = ApiKeyCreated.from_api(api_key)
    assert created.key == NEW_KEY
    assert NEW_KEY not in repr(created)
    invitation = InvitationCreated.from_api(
        {
            "object": "invitation",
            "id": "inv_1",
            "email": "a@example.com",
            "role": "member",
            "invited_by": "key_1",
            "created_at": "2026-01-01T00:00:00Z",
            "expires_at": "2026-01-08T00:00:00Z",
            "accepted_at": None,
            "status": "pending",
            "token": "secret-token",
            "accept_url": "http://botyard.test/accept/secret-token",
        }
    )
    assert "secret-token" not in repr(invitation)
    assert invitation.token == "secret-token"


def test_the_key_is_sent_only_in_the_authorization_header() -> None:
    script = Script(httpx.Response(200, json=bot_json()))
    with sync_client(script) as client:
        client.bots.retrieve("bot_1")
    (request,) = script.requests
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert_no_key(str(request.url))
