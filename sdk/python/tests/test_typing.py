"""The clients' static types, checked by ``mypy --strict`` in ``make lint`` (and run here, so
the calls stay real): one definition gives the sync client plain results and the async client
awaitables, with every method's parameters typed."""

from __future__ import annotations

from typing import assert_type

import httpx

from botyard_sdk import AsyncPager, Page, Pager
from botyard_sdk.types import Bot
from sdk_support import Script, async_client, bot_json, sync_client

LIST = httpx.Response(
    200, json={"object": "list", "data": [bot_json()], "has_more": False, "next_cursor": None}
)


def test_the_sync_client_returns_objects_and_pagers() -> None:
    with sync_client(Script(httpx.Response(200, json=bot_json()), LIST)) as client:
        assert_type(client.bots.retrieve("bot_1"), Bot)
        pager = client.bots.list(limit=1)
        assert_type(pager, Pager[Bot])
        assert_type(pager.first_page(), Page[Bot])
        assert [bot.id for bot in pager] == ["bot_1"]


async def test_the_async_client_returns_awaitables_and_async_pagers() -> None:
    async with async_client(Script(httpx.Response(200, json=bot_json()), LIST)) as client:
        assert_type(await client.bots.retrieve("bot_1"), Bot)
        pager = client.bots.list(limit=1)
        assert_type(pager, AsyncPager[Bot])
        assert_type(await pager.first_page(), Page[Bot])
        assert [bot.id async for bot in pager] == ["bot_1"]
