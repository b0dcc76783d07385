"""Lists: iterating walks every page by cursor; ``first_page()`` fetches one page only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx

from botyard_sdk import Page
from sdk_support import Script, async_client, bot_json, sync_client

BOT_IDS = [f"bot_{n}" for n in range(7)]


def paged(request: httpx.Request) -> httpx.Response:
    """Serves BOT_IDS three at a time; the cursor is the index to start from."""
    start = int(request.url.params.get("cursor") or 0)
    size = int(request.url.params.get("limit") or 3)
    chunk = BOT_IDS[start : start + size]
    more = start + size < len(BOT_IDS)
    body: dict[str, Any] = {
        "object": "list",
        "data": [bot_json(bot_id) for bot_id in chunk],
        "has_more": more,
        "next_cursor": str(start + size) if more else None,
    }
    return httpx.Response(200, json=body)


def test_iterating_walks_every_page() -> None:
    script = Script(paged)
    with sync_client(script) as client:
        ids = [bot.id for bot in client.bots.list(limit=3)]
    assert ids == BOT_IDS
    assert [r.url.params.get("cursor") for r in script.requests] == [None, "3", "6"]
    assert all(r.url.params["limit"] == "3" for r in script.requests)


def test_nothing_is_fetched_until_used_and_each_walk_starts_again() -> None:
    script = Script(paged)
    with sync_client(script) as client:
        bots = client.bots.list(limit=3)
        assert script.requests == []
        assert len(list(bots)) == len(list(bots)) == 7
    assert len(script.requests) == 6


def test_first_page_fetches_one_page_from_the_given_cursor() -> None:
    script = Script(paged)
    with sync_client(script) as client:
        page = client.bots.list(limit=2, cursor="4").first_page()
    assert isinstance(page, Page)
    assert [bot.id for bot in page.data] == ["bot_4", "bot_5"]
    assert page.has_more and page.next_cursor == "6"
    assert len(script.requests) == 1


def test_pages_yields_each_page() -> None:
    with sync_client(Script(paged)) as client:
        sizes = [len(page.data) for page in client.bots.list(limit=3).pages()]
    assert sizes == [3, 3, 1]


def test_filters_go_in_the_query_and_datetimes_as_utc() -> None:
    empty = httpx.Response(200, json={"object": "list", "data": [], "has_more": False})
    script = Script(empty)
    paris = timezone(timedelta(hours=2))
    with sync_client(script) as client:
        list(
            client.conversations.list(
                bot_id="bot_1",
                status="open",
                since=datetime(2026, 5, 1, 14, 0, tzinfo=paris),
                until=datetime(2026, 5, 2, tzinfo=UTC),
            )
        )
    params = dict(script.requests[0].url.params)
    assert params == {
        "bot_id": "bot_1",
        "status": "open",
        "since": "2026-05-01T12:00:00Z",
        "until": "2026-05-02T00:00:00Z",
    }


def test_a_page_that_claims_more_without_a_cursor_ends_the_walk() -> None:
    odd = httpx.Response(
        200, json={"object": "list", "data": [bot_json()], "has_more": True, "next_cursor": None}
    )
    script = Script(odd)
    with sync_client(script) as client:
        assert len(list(client.bots.list())) == 1
    assert len(script.requests) == 1


async def test_async_lists_walk_every_page_and_fetch_one() -> None:
    script = Script(paged)
    async with async_client(script) as client:
        ids = [bot.id async for bot in client.bots.list(limit=3)]
        page = await client.bots.list(limit=3).first_page()
        sizes = [len(p.data) async for p in client.bots.list(limit=3).pages()]
    assert ids == BOT_IDS
    assert [bot.id for bot in page.data] == BOT_IDS[:3]
    assert sizes == [3, 3, 1]
