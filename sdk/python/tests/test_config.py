"""Configuration: the key and server from the environment, the user agent, the timeout."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest

import botyard_sdk
from botyard_sdk import AsyncBotyard, Botyard, BotyardError
from sdk_support import API_KEY, FakeServer, Script, bot_json, sync_client


def test_key_and_base_url_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeServer() as server:
        server.answer(200, bot_json())
        monkeypatch.setenv("BOTYARD_API_KEY", API_KEY)
        monkeypatch.setenv("BOTYARD_BASE_URL", server.url + "/")
        with Botyard() as client:
            assert client.base_url == server.url
            client.bots.retrieve("bot_1")
        method, path, headers, _ = server.seen[0]
    assert (method, path) == ("GET", "/v1/bots/bot_1")
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    assert headers["User-Agent"] == f"botyard-sdk-python/{botyard_sdk.__version__}"


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOTYARD_API_KEY", "byk_from_env")
    monkeypatch.setenv("BOTYARD_BASE_URL", "http://env.test")
    script = Script(httpx.Response(200, json=bot_json()))
    with sync_client(script) as client:
        client.bots.retrieve("bot_1")
    assert script.requests[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert script.requests[0].url.host == "botyard.test"


def test_a_missing_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BOTYARD_API_KEY", raising=False)
    with pytest.raises(BotyardError, match="BOTYARD_API_KEY"):
        Botyard()
    with pytest.raises(BotyardError, match="BOTYARD_API_KEY"):
        AsyncBotyard(api_key="")


def test_base_url_is_the_servers_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BOTYARD_BASE_URL", raising=False)
    assert Botyard(API_KEY).base_url == "http://127.0.0.1:8000"
    assert Botyard(API_KEY, "https://botyard.example/v1/").base_url == "https://botyard.example"
    with pytest.raises(BotyardError, match="http"):
        Botyard(API_KEY, "botyard.example")


def test_the_timeout_is_applied_to_each_request() -> None:
    script = Script(httpx.Response(200, json=bot_json()))
    with sync_client(script, timeout=4.5) as client:
        client.bots.retrieve("bot_1")
    assert script.requests[0].extensions["timeout"] == httpx.Timeout(4.5).as_dict()


def test_a_client_brought_by_the_caller_stays_open() -> None:
    http = httpx.Client(transport=httpx.MockTransport(Script(httpx.Response(200, json={}))))
    with Botyard(API_KEY, "http://botyard.test", http_client=http):
        pass
    assert not http.is_closed
    http.close()


def test_naive_datetimes_are_refused() -> None:
    with sync_client(Script(httpx.Response(200, json={}))) as client, pytest.raises(ValueError):
        client.logs.usage(since=datetime(2026, 5, 1))
