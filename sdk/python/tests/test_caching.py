"""Conditional GETs: the last ETag is sent as If-None-Match, and a 304 reuses the cached body."""

from __future__ import annotations

import httpx
import pytest

from botyard_sdk import NotFoundError
from sdk_support import Script, async_client, bot_json, envelope, sync_client


def tagged(etag: str, **bot: str) -> httpx.Response:
    return httpx.Response(200, json=bot_json(**bot), headers={"ETag": etag})


NOT_MODIFIED = httpx.Response(304, headers={"ETag": '"v1"'})


def test_a_304_answers_with_the_cached_object() -> None:
    script = Script(tagged('"v1"', name="Cached"), NOT_MODIFIED)
    with sync_client(script) as client:
        first = client.bots.retrieve("bot_1")
        second = client.bots.retrieve("bot_1")
    assert second == first and second.name == "Cached"
    assert "if-none-match" not in script.requests[0].headers
    assert script.requests[1].headers["if-none-match"] == '"v1"'


def test_a_changed_object_replaces_the_cached_one() -> None:
    script = Script(tagged('"v1"', name="Old"), tagged('"v2"', name="New"), NOT_MODIFIED)
    with sync_client(script) as client:
        assert client.bots.retrieve("bot_1").name == "Old"
        assert client.bots.retrieve("bot_1").name == "New"
        assert client.bots.retrieve("bot_1").name == "New"
    assert [r.headers.get("if-none-match") for r in script.requests] == [None, '"v1"', '"v2"']


def test_cached_bodies_are_parsed_afresh_so_callers_cannot_corrupt_them() -> None:
    script = Script(tagged('"v1"', name="Kept"), NOT_MODIFIED)
    with sync_client(script) as client:
        first = client.bots.retrieve("bot_1")
        assert isinstance(first.extra_fields, dict)
        first.extra_fields["poison"] = True
        assert "poison" not in client.bots.retrieve("bot_1").extra_fields


def test_the_cache_is_per_url_and_bounded_least_recently_used_first() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        bot_id = request.url.path.rsplit("/", 1)[-1]
        if request.headers.get("if-none-match") == f'"{bot_id}"':
            return httpx.Response(304)
        return tagged(f'"{bot_id}"', bot_id=bot_id)

    script = Script(answer)
    with sync_client(script, etag_cache_size=2) as client:
        for bot_id in ("bot_a", "bot_b", "bot_a", "bot_c", "bot_a", "bot_b"):
            assert client.bots.retrieve(bot_id).id == bot_id
    conditional = [r.headers.get("if-none-match") for r in script.requests]
    assert conditional == [None, None, '"bot_a"', None, '"bot_a"', None]


def test_a_cache_size_of_zero_sends_no_condition() -> None:
    script = Script(tagged('"v1"'))
    with sync_client(script, etag_cache_size=0) as client:
        client.bots.retrieve("bot_1")
        client.bots.retrieve("bot_1")
    assert all("if-none-match" not in r.headers for r in script.requests)


def test_no_store_answers_and_lists_are_not_cached() -> None:
    me = {
        "object": "rate_limit",
        "rate_limit": {
            "limit": 1000,
            "remaining": 999,
            "used": 1,
            "reset": 1777777777,
            "reset_at": "2026-05-03T03:09:37Z",
            "window_seconds": 3600,
        },
    }
    live = httpx.Response(200, json=me, headers={"ETag": '"x"', "Cache-Control": "no-store"})
    listed = httpx.Response(
        200,
        json={"object": "list", "data": [bot_json()], "has_more": False, "next_cursor": None},
        headers={"ETag": '"list"'},
    )
    script = Script(live, live, listed, listed)
    with sync_client(script) as client:
        client.rate_limit()
        client.rate_limit()
        list(client.bots.list())
        list(client.bots.list())
    assert all("if-none-match" not in r.headers for r in script.requests)


def test_an_error_or_a_write_forgets_the_cached_object() -> None:
    script = Script(
        tagged('"v1"'),
        envelope(404, "resource_missing", "No such bot.", type="not_found"),
        tagged('"v1"'),
        httpx.Response(200, json=bot_json(name="Renamed")),
        tagged('"v2"'),
    )
    with sync_client(script) as client:
        client.bots.retrieve("bot_1")
        with pytest.raises(NotFoundError):
            client.bots.retrieve("bot_1")
        client.bots.retrieve("bot_1")
        client.bots.update("bot_1", name="Renamed")
        client.bots.retrieve("bot_1")
    conditional = [r.headers.get("if-none-match") for r in script.requests]
    assert conditional == [None, '"v1"', None, None, None]


async def test_the_async_client_reuses_304_too() -> None:
    script = Script(tagged('"v1"', name="Async"), NOT_MODIFIED)
    async with async_client(script) as client:
        first = await client.bots.retrieve("bot_1")
        again = await client.bots.retrieve("bot_1")
    assert again == first
    assert script.requests[1].headers["if-none-match"] == '"v1"'
