"""Analytics asserted exactly against conversations seeded at known times over several days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from botyard.core.clock import FrozenClock
from botyard.core.timefmt import rfc3339
from tests.bots.factories import (
    MISSING_BOT,
    add_knowledge,
    assert_not_found,
    assert_validation_error,
    create_bot,
    org_with_key,
)

DAY = datetime(2031, 1, 5, tzinfo=UTC)
"""The first day of the analysed period; the seed starts the evening before."""

ANSWERED = "refund please"
OPENING_HOURS = "opening hours?"
UNRELATED = ("how tall is mount everest", "tell me a joke", "best pancake recipe")


class Seed:
    """Builds conversations through the API with the clock set to each event's time."""

    def __init__(
        self, client: httpx.AsyncClient, headers: dict[str, str], clock: FrozenClock
    ) -> None:
        self.client, self.headers, self.clock = client, headers, clock

    async def bot(self) -> str:
        bot = await create_bot(self.client, self.headers)
        await add_knowledge(
            self.client, self.headers, bot["id"], "How do I get a refund?", "Ask billing."
        )
        await add_knowledge(
            self.client, self.headers, bot["id"], "What are your opening hours?", "9 to 5."
        )
        return str(bot["id"])

    async def start(self, bot_id: str, at: datetime, user: str | None = None) -> str:
        self.clock.set(at)
        body = {"external_user_id": user} if user else {}
        response = await self.client.post(
            f"/v1/bots/{bot_id}/conversations", json=body, headers=self.headers
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def say(self, conversation_id: str, at: datetime, text: str, expected: str) -> None:
        self.clock.set(at)
        response = await self.client.post(
            f"/v1/conversations/{conversation_id}/messages",
            json={"text": text},
            headers=self.headers,
        )
        assert response.status_code == 201, response.text
        assert response.json()["reply"]["answer_source"] == expected, text

    async def close(self, conversation_id: str, at: datetime) -> None:
        self.clock.set(at)
        response = await self.client.patch(
            f"/v1/conversations/{conversation_id}", json={"status": "closed"}, headers=self.headers
        )
        assert response.status_code == 200


async def seed(
    app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock
) -> tuple[dict[str, str], str, str]:
    """Four days from DAY: two busy days, an empty one, and a conversation crossing midnight.

    Returns the headers of the organization and its bots X and Y. Another organization and
    conversations just outside the period must not show up anywhere.
    """
    _, stranger_headers = await org_with_key(app)
    stranger = Seed(client, stranger_headers, clock)
    stranger_conversation = await stranger.start(
        await stranger.bot(), DAY + timedelta(hours=9), "eve"
    )
    await stranger.say(
        stranger_conversation, DAY + timedelta(hours=9, minutes=1), ANSWERED, "knowledge"
    )

    _, headers = await org_with_key(app)
    s = Seed(client, headers, clock)
    x, y = await s.bot(), await s.bot()

    before = await s.start(x, DAY - timedelta(hours=12), "dave")
    await s.say(before, DAY - timedelta(hours=11), ANSWERED, "knowledge")

    day0 = DAY
    c1 = await s.start(x, day0 + timedelta(hours=9, minutes=15), "alice")
    await s.say(c1, day0 + timedelta(hours=9, minutes=20), ANSWERED, "knowledge")
    await s.say(c1, day0 + timedelta(hours=9, minutes=25), UNRELATED[0], "fallback")
    await s.close(c1, day0 + timedelta(hours=9, minutes=30))
    c2 = await s.start(x, day0 + timedelta(hours=14), "bob")
    await s.say(c2, day0 + timedelta(hours=14, minutes=5), OPENING_HOURS, "knowledge")

    day2 = DAY + timedelta(days=2)
    await s.start(x, day2 + timedelta(hours=10))
    c3 = await s.start(y, day2 + timedelta(hours=23, minutes=30), "alice")
    await s.say(c3, day2 + timedelta(hours=23, minutes=40), ANSWERED, "knowledge")
    await s.say(c3, day2 + timedelta(days=1, minutes=10), UNRELATED[1], "fallback")

    day3 = DAY + timedelta(days=3)
    c5 = await s.start(x, day3 + timedelta(hours=8), "carol")
    await s.say(c5, day3 + timedelta(hours=8, minutes=1), UNRELATED[2], "fallback")

    after = await s.start(x, DAY + timedelta(days=4), "frank")
    await s.say(after, DAY + timedelta(days=4, minutes=1), ANSWERED, "knowledge")
    return headers, x, y


def figures(
    conversations: int,
    user: int,
    bot: int,
    users: int,
    answered: float | None,
    fallback: float | None,
    per_conversation: float | None,
) -> dict[str, Any]:
    return {
        "conversations": conversations,
        "user_messages": user,
        "bot_messages": bot,
        "unique_end_users": users,
        "answered_rate": answered,
        "fallback_rate": fallback,
        "messages_per_conversation": per_conversation,
    }


def point(start: datetime, step: timedelta, **counts: Any) -> dict[str, Any]:
    return {"start": rfc3339(start), "end": rfc3339(start + step), **counts}


EMPTY = figures(0, 0, 0, 0, None, None, None)


async def analytics(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> dict[str, Any]:
    response = await client.get("/v1/analytics", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_daily_totals_and_series_of_the_organization(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    headers, _, _ = await seed(app, client, frozen_clock)
    start, end = DAY, DAY + timedelta(days=4)
    body = await analytics(client, headers, **{"from": rfc3339(start), "to": rfc3339(end)})
    day = timedelta(days=1)
    # Conversations started: day 0: c1 (alice, 5 messages), c2 (bob, 3); day 2: c4 (anonymous,
    # 1), c3 (alice, 5, two of them after midnight); day 3: c5 (carol, 3).
    assert body == {
        "object": "analytics",
        "bot_id": None,
        "from": rfc3339(start),
        "to": rfc3339(end),
        "interval": "day",
        "totals": figures(5, 6, 11, 3, 0.5, 0.5, 3.4),
        "series": [
            point(DAY, day, **figures(2, 3, 5, 2, 0.6667, 0.3333, 4.0)),
            point(DAY + day, day, **EMPTY),
            point(DAY + 2 * day, day, **figures(2, 1, 3, 1, 1.0, 0.0, 3.0)),
            point(DAY + 3 * day, day, **figures(1, 2, 3, 1, 0.0, 1.0, 3.0)),
        ],
    }


async def test_one_bot(app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock) -> None:
    headers, _, y = await seed(app, client, frozen_clock)
    start, end = DAY, DAY + timedelta(days=4)
    body = await analytics(
        client, headers, bot_id=y, **{"from": rfc3339(start), "to": rfc3339(end)}
    )
    day = timedelta(days=1)
    assert body["bot_id"] == y
    assert body["totals"] == figures(1, 2, 3, 1, 0.5, 0.5, 5.0)
    assert body["series"] == [
        point(DAY, day, **EMPTY),
        point(DAY + day, day, **EMPTY),
        point(DAY + 2 * day, day, **figures(1, 1, 2, 1, 1.0, 0.0, 5.0)),
        point(DAY + 3 * day, day, **figures(0, 1, 1, 0, 0.0, 1.0, None)),
    ]


async def test_hourly_series_around_midnight(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    headers, _, _ = await seed(app, client, frozen_clock)
    start = DAY + timedelta(days=2, hours=22)
    end = start + timedelta(hours=4)
    body = await analytics(
        client,
        headers,
        interval="hour",
        **{"from": rfc3339(start), "to": rfc3339(end)},
    )
    hour = timedelta(hours=1)
    assert body["interval"] == "hour"
    assert body["totals"] == figures(1, 2, 3, 1, 0.5, 0.5, 5.0)
    assert body["series"] == [
        point(start, hour, **EMPTY),
        point(start + hour, hour, **figures(1, 1, 2, 1, 1.0, 0.0, 5.0)),
        point(start + 2 * hour, hour, **figures(0, 1, 1, 0, 0.0, 1.0, None)),
        point(start + 3 * hour, hour, **EMPTY),
    ]


async def test_a_period_not_on_bucket_boundaries_counts_only_inside_it(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    headers, _, _ = await seed(app, client, frozen_clock)
    start = DAY + timedelta(hours=9, minutes=22)  # after c1 started and was first answered
    end = DAY + timedelta(days=1, hours=6)
    body = await analytics(client, headers, **{"from": rfc3339(start), "to": rfc3339(end)})
    day = timedelta(days=1)
    # Left: c1's second exchange (a fallback) and all of c2.
    inside = figures(1, 2, 3, 1, 0.5, 0.5, 3.0)
    assert body["totals"] == inside
    assert body["series"] == [point(DAY, day, **inside), point(DAY + day, day, **EMPTY)]


async def test_by_default_the_last_seven_days_by_day(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    headers, _, _ = await seed(app, client, frozen_clock)
    now = DAY + timedelta(days=3, hours=12)
    frozen_clock.set(now)
    body = await analytics(client, headers)
    assert (body["from"], body["to"], body["interval"]) == (
        rfc3339(now - timedelta(days=7)),
        rfc3339(now),
        "day",
    )
    assert [p["start"] for p in body["series"]] == [
        rfc3339(DAY - timedelta(days=4) + timedelta(days=i)) for i in range(8)
    ]
    # Everything seeded up to now: the 5 conversations of the period and "dave"'s the day before.
    assert body["totals"] == figures(6, 7, 13, 4, 0.5714, 0.4286, 3.33)


async def test_another_organizations_bot_is_404_like_a_missing_one(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    _, other_headers = await org_with_key(app)
    foreign = await create_bot(client, other_headers)
    _, headers = await org_with_key(app, ["read"])
    answers = []
    for bot_id in (foreign["id"], MISSING_BOT):
        response = await client.get("/v1/analytics", params={"bot_id": bot_id}, headers=headers)
        assert_not_found(response, "bot_id")
        answers.append(response.json()["error"] | {"request_id": None})
    assert answers[0] == answers[1]
    empty = await analytics(client, headers)
    assert empty["totals"] == EMPTY


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        (
            {"from": "2031-01-06T00:00:00Z", "to": "2031-01-05T00:00:00Z"},
            "from",
            "invalid_time_range",
        ),
        (
            {"from": "2030-01-01T00:00:00Z", "to": "2031-01-03T00:00:00Z"},
            "from",
            "time_range_too_long",
        ),
        (
            {"from": "2031-01-01T00:00:00Z", "to": "2031-02-01T00:00:01Z", "interval": "hour"},
            "from",
            "time_range_too_long",
        ),
        ({"from": "0001-01-01T00:00:00+05:00"}, "from", "time_out_of_range"),
        ({"to": "9999-12-31T23:00:00Z"}, "to", "time_out_of_range"),
        ({"interval": "week"}, "interval", "invalid_parameter"),
        ({"from": "last tuesday"}, "from", "invalid_parameter"),
    ],
)
async def test_validation(
    app: FastAPI, client: httpx.AsyncClient, params: dict[str, str], param: str, code: str
) -> None:
    _, headers = await org_with_key(app, ["read"])
    response = await client.get("/v1/analytics", params=params, headers=headers)
    assert_validation_error(response, param)
    assert response.json()["error"]["code"] == code


async def test_the_longest_periods_are_allowed(app: FastAPI, client: httpx.AsyncClient) -> None:
    _, headers = await org_with_key(app, ["read"])
    year = await analytics(
        client, headers, **{"from": "2031-01-01T00:00:00Z", "to": "2032-01-02T00:00:00Z"}
    )
    assert len(year["series"]) == 366
    month = await analytics(
        client,
        headers,
        interval="hour",
        **{"from": "2031-01-01T00:00:00Z", "to": "2031-02-01T00:00:00Z"},
    )
    assert len(month["series"]) == 31 * 24
    assert month["totals"] == EMPTY
