"""Hourly usage per key and status class, grouped by the database, exact to the request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import FastAPI

from botyard.core.clock import FrozenClock
from botyard.core.timefmt import rfc3339
from botyard.requestlog.service import UsageRow, usage_by_hour
from tests.factories import auth, make_key, make_org
from tests.requestlog.support import client_from, log_row, seed_logs

H = datetime(2026, 2, 10, 8, 0, tzinfo=UTC)


def at(hours: float = 0, minutes: float = 0, seconds: float = 0) -> datetime:
    return H + timedelta(hours=hours, minutes=minutes, seconds=seconds)


async def seed(app: FastAPI) -> tuple[str, str, str, str]:
    org, other = await make_org(app), await make_org(app)
    k1_row, k1 = await make_key(app, org, ["admin"])
    k2_row, _ = await make_key(app, org)
    a, b = k1_row.id, k2_row.id
    rows = [
        log_row(org.id, at(), key_id=a),
        log_row(org.id, at(minutes=59, seconds=59.999), key_id=a, status=201),
        log_row(org.id, at(minutes=10), key_id=a, status=404),
        log_row(org.id, at(minutes=20), key_id=b, status=204),
        log_row(org.id, at(hours=1), key_id=a, status=500),
        *(log_row(org.id, at(hours=1, minutes=30 + i), key_id=b, status=429) for i in range(3)),
        log_row(org.id, at(hours=1, minutes=45), key_id=b, status=304),
        log_row(org.id, at(hours=3, minutes=1), key_id=a),
        log_row(org.id, at(hours=3, minutes=2), key_id=a, status=299),
        # Outside [H, H+4h): just before and exactly at the end.
        log_row(org.id, at(seconds=-0.001), key_id=a),
        log_row(org.id, at(hours=4), key_id=a),
        # Another organization in the same hours.
        log_row(other.id, at(minutes=5), key_id="key_other"),
        log_row(other.id, at(hours=1, minutes=5), key_id="key_other", status=500),
    ]
    await seed_logs(app, rows)
    return org.id, a, b, k1


def ordered(rows: list[UsageRow]) -> list[UsageRow]:
    return sorted(rows, key=lambda r: (r.hour, r.key_id or "", r.status_class))


async def test_usage_by_hour_counts_each_hour_key_and_class_exactly(app: FastAPI) -> None:
    org_id, a, b, _ = await seed(app)
    async with app.state.sessionmaker() as session:
        rows = await usage_by_hour(session, org_id, at(), at(hours=4))
        only_b = await usage_by_hour(session, org_id, at(), at(hours=4), key_id=b)
        narrow = await usage_by_hour(session, org_id, at(minutes=30), at(hours=1, minutes=31))
    expected = ordered(
        [
            UsageRow(at(), a, "2xx", 2),
            UsageRow(at(), a, "4xx", 1),
            UsageRow(at(), b, "2xx", 1),
            UsageRow(at(hours=1), a, "5xx", 1),
            UsageRow(at(hours=1), b, "3xx", 1),
            UsageRow(at(hours=1), b, "4xx", 3),
            UsageRow(at(hours=3), a, "2xx", 2),
        ]
    )
    assert rows == expected
    assert only_b == [r for r in expected if r.key_id == b]
    assert narrow == ordered(
        [
            UsageRow(at(), a, "2xx", 1),
            UsageRow(at(hours=1), a, "5xx", 1),
            UsageRow(at(hours=1), b, "4xx", 1),
        ]
    )


async def test_usage_endpoint(app: FastAPI, frozen_clock: FrozenClock) -> None:
    _, a, b, admin = await seed(app)
    async with client_from(app, "203.0.113.60") as client:
        response = await client.get(
            "/v1/logs/usage",
            headers=auth(admin),
            params={"since": rfc3339(at()), "until": rfc3339(at(hours=4)), "key_id": a},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body == {
            "object": "usage",
            "interval": "hour",
            "since": "2026-02-10T08:00:00Z",
            "until": "2026-02-10T12:00:00Z",
            "key_id": a,
            "total": 6,
            "data": [
                {"hour": "2026-02-10T08:00:00Z", "key_id": a, "status_class": "2xx", "requests": 2},
                {"hour": "2026-02-10T08:00:00Z", "key_id": a, "status_class": "4xx", "requests": 1},
                {"hour": "2026-02-10T09:00:00Z", "key_id": a, "status_class": "5xx", "requests": 1},
                {"hour": "2026-02-10T11:00:00Z", "key_id": a, "status_class": "2xx", "requests": 2},
            ],
        }

        everything = (
            await client.get(
                "/v1/logs/usage",
                headers=auth(admin),
                params={"since": rfc3339(at()), "until": rfc3339(at(hours=4))},
            )
        ).json()
        assert everything["total"] == 11
        assert {row["key_id"] for row in everything["data"]} == {a, b}

        frozen_clock.set(at(hours=2, minutes=30))
        default = (await client.get("/v1/logs/usage", headers=auth(admin))).json()
        assert (default["since"], default["until"]) == (
            "2026-02-09T10:30:00Z",
            "2026-02-10T10:30:00Z",
        )
        # The last 24 hours up to 10:30: hour 08 (4), hour 09 (5), and the row just before 08:00.
        assert default["total"] == 4 + 5 + 1

        too_long = await client.get(
            "/v1/logs/usage",
            headers=auth(admin),
            params={"since": "2025-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        )
        assert too_long.status_code == 400
        assert too_long.json()["error"]["param"] == "since"
        reversed_range = await client.get(
            "/v1/logs/usage",
            headers=auth(admin),
            params={"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        )
        assert reversed_range.status_code == 400
        assert reversed_range.json()["error"]["param"] == "until"
