"""GET /v1/logs: the organization's requests, newest first, filtered and paginated."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from botyard.core.ids import new_id
from botyard.core.timefmt import rfc3339
from tests.factories import auth, make_key, make_org
from tests.requestlog.support import client_from, log_row, running_app, seed_logs


@pytest.fixture
async def logs_app(database_url: str) -> AsyncIterator[FastAPI]:
    """A fresh app, so no other test's flush can add rows while this one reads them."""
    async with running_app(database_url) as app:
        yield app


@pytest.fixture
async def client(logs_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_from(logs_app, "203.0.113.50") as c:
        yield c


class Seeded:
    def __init__(self, rows: list[dict[str, Any]], admin: str, read: str, keys: list[str]):
        self.rows = rows
        self.admin = admin
        self.read = read
        self.keys = keys

    def newest_first(self, keep: Any = lambda r: True) -> list[str]:
        chosen = [r for r in self.rows if keep(r)]
        chosen.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
        return [r["id"] for r in chosen]


@pytest.fixture
async def seeded(logs_app: FastAPI) -> Seeded:
    org, other = await make_org(logs_app), await make_org(logs_app)
    admin_row, admin = await make_key(logs_app, org, ["admin"])
    read_row, read = await make_key(logs_app, org, ["read"])
    t = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    k1, k2 = admin_row.id, read_row.id
    rows = [
        log_row(org.id, t, key_id=k1),
        log_row(
            org.id,
            t + timedelta(minutes=10),
            key_id=k1,
            status=404,
            route="/v1/bots/{bot_id}",
            error_code="resource_missing",
        ),
        log_row(
            org.id,
            t + timedelta(minutes=20),
            key_id=k2,
            status=429,
            route="/v1/bots",
            error_code="rate_limit_exceeded",
        ),
        log_row(org.id, t + timedelta(minutes=30), key_id=k2, status=500, route="/v1/bots"),
        log_row(org.id, t + timedelta(minutes=40), key_id=k1, status=201, method="POST"),
        # Two rows in the same instant: the id breaks the tie, so pages never skip one.
        log_row(org.id, t + timedelta(minutes=50), key_id=k2),
        log_row(
            org.id, t + timedelta(minutes=50), key_id=k1, status=403, error_code="missing_scope"
        ),
    ]
    # Ids that sort alike under any collation, so the expected order is certain.
    tie = new_id("log")
    rows[-2]["id"], rows[-1]["id"] = tie + "1", tie + "2"
    foreign = [log_row(other.id, t + timedelta(minutes=m), key_id="key_other") for m in (5, 15)]
    await seed_logs(logs_app, rows + foreign)
    return Seeded(rows, admin, read, [k1, k2])


async def list_ids(client: httpx.AsyncClient, key: str, **params: Any) -> list[str]:
    response = await client.get("/v1/logs", headers=auth(key), params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "list"
    assert body["has_more"] is False and body["next_cursor"] is None
    return [row["id"] for row in body["data"]]


async def test_rows_come_newest_first_with_every_field(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    response = await client.get("/v1/logs", headers=auth(seeded.admin))
    assert response.status_code == 200
    data = response.json()["data"]
    assert [r["id"] for r in data] == seeded.newest_first()
    source = next(r for r in seeded.rows if r["status"] == 404)
    shown = next(r for r in data if r["id"] == source["id"])
    assert shown == {
        "object": "request_log",
        "id": source["id"],
        "created_at": "2026-03-01T12:10:00Z",
        "key_id": source["key_id"],
        "method": "GET",
        "route": "/v1/bots/{bot_id}",
        "status": 404,
        "error_code": "resource_missing",
        "latency_ms": 1.5,
        "ip": "192.0.2.1",
        "user_agent": "seed",
        "request_id": source["request_id"],
        "source": "api",
    }


async def test_pages_follow_the_cursor_without_gaps_or_repeats(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    seen: list[str] = []
    pages: list[tuple[int, bool]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = (await client.get("/v1/logs", headers=auth(seeded.admin), params=params)).json()
        seen += [r["id"] for r in body["data"]]
        pages.append((len(body["data"]), body["has_more"]))
        cursor = body["next_cursor"]
        if not body["has_more"]:
            assert cursor is None
            break
    assert pages == [(3, True), (3, True), (1, False)]
    assert seen == seeded.newest_first()


async def test_filters(client: httpx.AsyncClient, seeded: Seeded) -> None:
    k1, k2 = seeded.keys
    t = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    ids = seeded.newest_first

    async def check(expected: list[str], **params: Any) -> None:
        assert await list_ids(client, seeded.admin, **params) == expected, params

    await check(ids(lambda r: r["key_id"] == k1), key_id=k1)
    await check(ids(lambda r: r["status"] == 404), status="404")
    await check(ids(lambda r: 400 <= r["status"] < 500), status="4xx")
    await check(ids(lambda r: r["status"] >= 500), status="5XX")
    await check(ids(lambda r: r["status"] < 300), status="2xx")
    await check(ids(lambda r: r["route"] == "/v1/bots"), route="/v1/bots")
    await check(
        ids(lambda r: r["key_id"] == k2 and 400 <= r["status"] < 500), key_id=k2, status="4xx"
    )
    # since is inclusive, until exclusive.
    await check(
        ids(lambda r: t + timedelta(minutes=20) <= r["created_at"] < t + timedelta(minutes=40)),
        since=rfc3339(t + timedelta(minutes=20)),
        until=rfc3339(t + timedelta(minutes=40)),
    )
    await check(
        ids(lambda r: r["created_at"] >= t + timedelta(minutes=50)), since="2026-03-01T12:50:00"
    )
    await check(
        ids(lambda r: r["created_at"] < t + timedelta(minutes=10)),
        until="2026-03-01T13:10:00+01:00",
    )
    await check([], key_id="key_unknown")


@pytest.mark.parametrize(
    ("params", "code", "param"),
    [
        ({"status": "abc"}, "invalid_status_filter", "status"),
        ({"status": "600"}, "invalid_status_filter", "status"),
        ({"status": "4x"}, "invalid_status_filter", "status"),
        (
            {"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"},
            "invalid_time_range",
            "until",
        ),
        ({"cursor": "not-a-cursor"}, "invalid_cursor", "cursor"),
    ],
)
async def test_bad_filters_are_400s_naming_the_parameter(
    client: httpx.AsyncClient, seeded: Seeded, params: dict[str, str], code: str, param: str
) -> None:
    response = await client.get("/v1/logs", headers=auth(seeded.admin), params=params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param)


async def test_unparseable_time_and_limit_are_422s(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    for params in ({"since": "yesterday"}, {"limit": 0}, {"limit": 101}):
        response = await client.get("/v1/logs", headers=auth(seeded.admin), params=params)
        assert response.status_code == 422
        assert response.json()["error"]["param"] == next(iter(params))


async def test_logs_need_the_admin_scope(client: httpx.AsyncClient, seeded: Seeded) -> None:
    response = await client.get("/v1/logs", headers=auth(seeded.read))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "missing_scope"
    usage = await client.get("/v1/logs/usage", headers=auth(seeded.read))
    assert usage.status_code == 403
