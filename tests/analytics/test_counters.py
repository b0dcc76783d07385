"""Analytics reads counters kept as messages are written (analytics/service.py docstring).

Every test here holds them to a recount of the raw rows: the counter table row by row, each
conversation's ``message_count``, and whole responses against the definitions applied to the
rows in plain Python, under concurrent writes, for periods starting and ending inside hours,
and after the migration that builds the counters from existing messages.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from fastapi import FastAPI
from sqlalchemy import Connection, select

from botyard.analytics.models import MessageHour
from botyard.conversations.models import Conversation, Message
from botyard.core.clock import FrozenClock
from botyard.core.database import create_engine
from botyard.core.migrate import alembic_config
from botyard.core.timefmt import rfc3339
from botyard.demo import seed_demo
from botyard.main import create_app
from tests.bots.factories import add_knowledge, create_bot, start_conversation
from tests.conftest import fresh_ip, make_settings, migrated_database
from tests.factories import auth, make_key, make_org

ANSWERED = "refund please"
UNANSWERED = ("how tall is mount everest", "tell me a joke", "best pancake recipe")
STEPS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


@dataclass(frozen=True)
class Rows:
    conversations: list[Any]  # id, bot_id, external_user_id, created_at
    messages: list[Any]  # conversation_id, bot_id, role, answer_source, created_at


async def raw_rows(app: FastAPI, organization_id: str) -> Rows:
    async with app.state.sessionmaker() as session:
        conversations = await session.execute(
            select(
                Conversation.id,
                Conversation.bot_id,
                Conversation.external_user_id,
                Conversation.created_at,
            ).where(Conversation.organization_id == organization_id)
        )
        messages = await session.execute(
            select(
                Message.conversation_id,
                Message.bot_id,
                Message.role,
                Message.answer_source,
                Message.created_at,
            ).where(Message.organization_id == organization_id)
        )
        return Rows(list(conversations), list(messages))


def floor(at: datetime, interval: str) -> datetime:
    at = at.replace(minute=0, second=0, microsecond=0)
    return at.replace(hour=0) if interval == "day" else at


async def assert_counters_are_a_recount(app: FastAPI, organization_id: str) -> None:
    """The counter rows and message counts are exactly what the messages add up to."""
    rows = await raw_rows(app, organization_id)
    expected: Counter[tuple[str, datetime, str]] = Counter()
    for _, bot_id, role, source, created_at in rows.messages:
        hour = floor(created_at, "hour")
        expected[bot_id, hour, "user"] += role == "user"
        expected[bot_id, hour, "bot"] += role == "bot"
        expected[bot_id, hour, "knowledge"] += source == "knowledge"
        expected[bot_id, hour, "fallback"] += source == "fallback"
    async with app.state.sessionmaker() as session:
        counters = (
            await session.scalars(
                select(MessageHour).where(MessageHour.organization_id == organization_id)
            )
        ).all()
        message_counts = dict(
            (
                await session.execute(
                    select(Conversation.id, Conversation.message_count).where(
                        Conversation.organization_id == organization_id
                    )
                )
            ).all()
        )
    actual: Counter[tuple[str, datetime, str]] = Counter()
    for row in counters:
        actual[row.bot_id, row.hour, "user"] = row.user_messages
        actual[row.bot_id, row.hour, "bot"] = row.bot_messages
        actual[row.bot_id, row.hour, "knowledge"] = row.knowledge_replies
        actual[row.bot_id, row.hour, "fallback"] = row.fallback_replies
    assert +actual == +expected  # unary + drops the zeros
    assert len(counters) == len({(bot, hour) for bot, hour, _ in +expected})
    assert message_counts == {
        conversation_id: sum(1 for m in rows.messages if m.conversation_id == conversation_id)
        for conversation_id, *_ in rows.conversations
    }


def recount(
    rows: Rows, *, bot_id: str | None, start: datetime, end: datetime, interval: str
) -> dict[str, Any]:
    """The response the definitions give, computed from the rows in Python."""
    step = STEPS[interval]
    buckets: dict[datetime, Counter[str]] = {}
    users: dict[datetime, set[str]] = {}
    at = floor(start, interval)
    while at < end:
        buckets[at], users[at] = Counter(), set()
        at += step
    messages_of = Counter(m.conversation_id for m in rows.messages)
    all_users: set[str] = set()
    for conversation_id, bot, user, created_at in rows.conversations:
        if (bot_id is None or bot == bot_id) and start <= created_at < end:
            bucket = floor(created_at, interval)
            buckets[bucket]["conversations"] += 1
            buckets[bucket]["conversation_messages"] += messages_of[conversation_id]
            if user is not None:
                users[bucket].add(user)
                all_users.add(user)
    for _, bot, role, source, created_at in rows.messages:
        if (bot_id is None or bot == bot_id) and start <= created_at < end:
            counts = buckets[floor(created_at, interval)]
            counts["user"] += role == "user"
            counts["bot"] += role == "bot"
            counts["knowledge"] += source == "knowledge"
            counts["fallback"] += source == "fallback"

    def figures(counts: Counter[str], end_users: set[str]) -> dict[str, Any]:
        replies = counts["knowledge"] + counts["fallback"]
        return {
            "conversations": counts["conversations"],
            "user_messages": counts["user"],
            "bot_messages": counts["bot"],
            "unique_end_users": len(end_users),
            "answered_rate": round(counts["knowledge"] / replies, 4) if replies else None,
            "fallback_rate": round(counts["fallback"] / replies, 4) if replies else None,
            "messages_per_conversation": (
                round(counts["conversation_messages"] / counts["conversations"], 2)
                if counts["conversations"]
                else None
            ),
        }

    totals: Counter[str] = Counter()
    for counts in buckets.values():
        totals.update(counts)
    return {
        "object": "analytics",
        "bot_id": bot_id,
        "from": rfc3339(start),
        "to": rfc3339(end),
        "interval": interval,
        "totals": figures(totals, all_users),
        "series": [
            {"start": rfc3339(at), "end": rfc3339(at + step), **figures(counts, users[at])}
            for at, counts in buckets.items()
        ],
    }


async def assert_analytics_are_a_recount(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    rows: Rows,
    *,
    bot_id: str | None,
    start: datetime,
    end: datetime,
    interval: str,
) -> None:
    params: dict[str, str] = {"from": start.isoformat(), "to": end.isoformat()}
    params["interval"] = interval
    if bot_id is not None:
        params["bot_id"] = bot_id
    response = await client.get("/v1/analytics", params=params, headers=headers)
    assert response.status_code == 200, response.text
    expected = recount(rows, bot_id=bot_id, start=start, end=end, interval=interval)
    assert response.json() == expected, params


async def organization(app: FastAPI) -> tuple[str, dict[str, str]]:
    org = await make_org(app, rate_limit=1_000_000)
    _, key = await make_key(app, org, ["write"])
    return org.id, auth(key)


async def knowing_bot(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    bot = await create_bot(client, headers)
    await add_knowledge(client, headers, bot["id"], "How do I get a refund?", "Ask billing.")
    return str(bot["id"])


async def test_concurrent_writes_keep_the_counters_exact(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    organization_id, headers = await organization(app)
    bots = [await knowing_bot(client, headers) for _ in range(2)]
    conversations = [
        (await start_conversation(client, headers, bots[i % 2]))["id"] for i in range(6)
    ]
    rng = random.Random(13)

    async def post(i: int) -> int:
        text = ANSWERED if i % 3 == 0 else rng.choice(UNANSWERED)
        response = await client.post(
            f"/v1/conversations/{conversations[i % len(conversations)]}/messages",
            json={"text": text},
            headers=headers,
        )
        return response.status_code

    async def start(i: int) -> int:
        response = await client.post(
            f"/v1/bots/{bots[i % 2]}/conversations",
            json={"external_user_id": f"user-{i % 3}"},
            headers=headers,
        )
        return response.status_code

    statuses = await asyncio.gather(*(post(i) for i in range(48)), *(start(i) for i in range(8)))
    # SQLite may refuse a write it waited too long for (503); it leaves nothing behind.
    assert set(statuses) <= {201, 503} and statuses.count(201) >= len(statuses) // 2, statuses
    await assert_counters_are_a_recount(app, organization_id)

    rows = await raw_rows(app, organization_id)
    assert len(rows.messages) > 50
    now = max(m.created_at for m in rows.messages)
    middle = sorted(m.created_at for m in rows.messages)[len(rows.messages) // 2]
    for bot_id in (None, *bots):
        for start_at, end_at in ((now - timedelta(days=1), now + timedelta(hours=1)),
                                 (now - timedelta(hours=2), middle)):  # fmt: skip
            await assert_analytics_are_a_recount(
                client, headers, rows, bot_id=bot_id, start=start_at, end=end_at, interval="hour"
            )


async def test_any_period_is_a_recount_of_the_rows(
    app: FastAPI, client: httpx.AsyncClient, frozen_clock: FrozenClock
) -> None:
    """Conversations over three days, some exchanges crossing an hour (a reply a microsecond
    after its question), then periods starting and ending on and between messages and hours."""
    organization_id, headers = await organization(app)
    bots = [await knowing_bot(client, headers) for _ in range(2)]
    base = datetime(2031, 3, 10, tzinfo=UTC)
    rng = random.Random(7)
    times: list[datetime] = []
    for i in range(14):
        started = base + timedelta(minutes=rng.randrange(3 * 24 * 60), seconds=rng.random())
        frozen_clock.set(started)
        user = rng.choice([None, "ann", "bob", "cy"])
        conversation = await start_conversation(
            client, headers, bots[i % 2], **({"external_user_id": user} if user else {})
        )
        at = started
        for _ in range(rng.randint(0, 3)):
            at += timedelta(minutes=rng.randint(1, 90))
            if rng.random() < 0.3:  # the question in one hour, its reply in the next
                at = floor(at, "hour") + timedelta(hours=1) - timedelta(microseconds=1)
            frozen_clock.set(at)
            text = ANSWERED if rng.random() < 0.5 else rng.choice(UNANSWERED)
            response = await client.post(
                f"/v1/conversations/{conversation['id']}/messages",
                json={"text": text},
                headers=headers,
            )
            assert response.status_code == 201, response.text
            times.append(at)
    await assert_counters_are_a_recount(app, organization_id)

    rows = await raw_rows(app, organization_id)
    edges = [
        *times,  # a message's own time: inclusive at the start, exclusive at the end
        *(m.created_at for m in rows.messages[::3]),
        *(floor(t, "hour") for t in times[::2]),
        *(t + timedelta(minutes=rng.randint(-30, 30)) for t in times[1::2]),
        base - timedelta(hours=1),
        base + timedelta(days=3, hours=2),
    ]
    for _ in range(24):
        start, end = sorted(rng.sample(edges, 2))
        interval = "day" if end - start > timedelta(days=2) else rng.choice(["hour", "day"])
        await assert_analytics_are_a_recount(
            client,
            headers,
            rows,
            bot_id=rng.choice([None, *bots]),
            start=start,
            end=end,
            interval=interval,
        )
    frozen_clock.set(base + timedelta(days=3, hours=12))
    body = (await client.get("/v1/analytics", headers=headers)).json()
    now = frozen_clock.now()
    assert body == recount(
        rows, bot_id=None, start=now - timedelta(days=7), end=now, interval="day"
    )


async def test_a_deleted_bot_takes_its_counters_with_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    organization_id, headers = await organization(app)
    bot = await knowing_bot(client, headers)
    await start_conversation(client, headers, bot)
    response = await client.delete(f"/v1/bots/{bot}", headers=headers)
    assert response.status_code == 200, response.text
    async with app.state.sessionmaker() as session:
        left = (await session.scalars(select(MessageHour).where(MessageHour.bot_id == bot))).all()
    assert left == []
    await assert_counters_are_a_recount(app, organization_id)


def counters_revision() -> tuple[str, str]:
    """The revision that creates the counters and the one before it."""
    script = ScriptDirectory.from_config(alembic_config(""))
    found = next(r for r in script.walk_revisions() if r.doc.startswith("analytics counters"))
    assert isinstance(found.down_revision, str)
    return found.revision, found.down_revision


@pytest.fixture(params=["sqlite", "postgresql"])
async def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database of this test's own: it migrates down and up again."""
    async with migrated_database(request.param, tmp_path) as url:
        yield url


async def test_the_migration_counts_the_messages_already_there(fresh_database: str) -> None:
    """A week of demo conversations, counted as they were written; migrated down and up again,
    the counters are built from the messages alone and come out the same."""
    app = create_app(make_settings(fresh_database))
    async with app.router.lifespan_context(app):
        async with app.state.sessionmaker() as session:
            demo = await seed_demo(session, "Tq8-demo-counters-passphrase")
            await session.commit()
        assert demo.conversations_seeded > 0
        await assert_counters_are_a_recount(app, demo.organization.id)
        async with app.state.sessionmaker() as session:
            written = (await session.scalars(select(MessageHour))).all()
            before = {(r.bot_id, r.hour, r.user_messages, r.bot_messages) for r in written}

    _, previous = counters_revision()

    def migrate(connection: Connection, to: str, upgrade: bool) -> None:
        config = alembic_config(fresh_database)
        config.attributes["connection"] = connection
        (command.upgrade if upgrade else command.downgrade)(config, to)

    engine = create_engine(fresh_database)
    async with engine.begin() as connection:
        await connection.run_sync(migrate, previous, False)
        await connection.run_sync(migrate, "head", True)  # and any later revision
    await engine.dispose()

    app = create_app(make_settings(fresh_database))
    async with app.router.lifespan_context(app):
        await assert_counters_are_a_recount(app, demo.organization.id)
        async with app.state.sessionmaker() as session:
            rebuilt = (await session.scalars(select(MessageHour))).all()
        assert {(r.bot_id, r.hour, r.user_messages, r.bot_messages) for r in rebuilt} == before
        _, key = await make_key(app, demo.organization, ["read"])
        transport = httpx.ASGITransport(app=app, client=(fresh_ip(), 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            rows = await raw_rows(app, demo.organization.id)
            end = max(m.created_at for m in rows.messages) + timedelta(minutes=1)
            await assert_analytics_are_a_recount(
                client,
                auth(key),
                rows,
                bot_id=demo.bot.id,
                start=end - timedelta(days=8, minutes=7),
                end=end,
                interval="day",
            )
