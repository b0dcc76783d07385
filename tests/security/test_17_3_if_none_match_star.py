"""Issue 17.3: ``If-None-Match: *`` made every GET an uncounted 304.

The attack: a 20-requests-an-hour organization reads 300 times with ``If-None-Match: *``.
Only a validator the client really holds may earn the uncounted 304."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.factories import auth, make_bot, make_key, make_org

HOURLY_LIMIT = 20


async def test_a_wildcard_is_no_validator_and_is_counted(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app, rate_limit=HOURLY_LIMIT)
    bot = await make_bot(app, org)
    _, key = await make_key(app, org)
    wildcard = {**auth(key), "If-None-Match": "*"}

    statuses = []
    for _ in range(HOURLY_LIMIT + 5):
        response = await client.get(f"/v1/bots/{bot.id}", headers=wildcard)
        statuses.append(response.status_code)
        if response.status_code == 200:
            assert response.json()["id"] == bot.id
    assert statuses == [200] * HOURLY_LIMIT + [429] * 5

    listed = await client.get("/v1/bots", headers=wildcard)
    assert listed.status_code == 429


async def test_only_a_real_validator_match_is_refunded(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    org = await make_org(app, rate_limit=HOURLY_LIMIT)
    bot = await make_bot(app, org)
    _, key = await make_key(app, org)

    first = await client.get(f"/v1/bots/{bot.id}", headers=auth(key))
    assert first.headers["x-ratelimit-used"] == "1"
    etag = first.headers["etag"]

    for _ in range(HOURLY_LIMIT * 2):
        cached = await client.get(
            f"/v1/bots/{bot.id}", headers={**auth(key), "If-None-Match": etag}
        )
        assert cached.status_code == 304
        assert cached.headers["x-ratelimit-used"] == "1"

    for condition in ("*", '"not-the-etag"', f'{etag[:-2]}"', "W/*"):
        response = await client.get(
            f"/v1/bots/{bot.id}", headers={**auth(key), "If-None-Match": condition}
        )
        assert response.status_code == 200, condition
    assert response.headers["x-ratelimit-used"] == "5"
