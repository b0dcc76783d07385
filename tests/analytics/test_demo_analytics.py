"""`botyard demo` seeds a week of real conversations whose analytics are worth looking at."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from botyard.conversations.models import Conversation
from botyard.demo import DEMO_CONVERSATIONS, seed_demo
from tests.factories import auth, make_key


async def test_demo_seeds_conversations_once_with_non_trivial_analytics(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    for _ in range(2):
        async with app.state.sessionmaker() as session:
            result = await seed_demo(session, "Tq8-demo-analytics-passphrase")
            await session.commit()
    assert result.conversations_seeded == 0
    async with app.state.sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).where(Conversation.bot_id == result.bot.id)
        )
    assert count == DEMO_CONVERSATIONS

    _, key = await make_key(app, result.organization, ["read"])
    response = await client.get(
        "/v1/analytics", params={"bot_id": result.bot.id}, headers=auth(key)
    )
    assert response.status_code == 200, response.text
    totals = response.json()["totals"]
    assert totals["conversations"] == DEMO_CONVERSATIONS
    assert totals["user_messages"] > DEMO_CONVERSATIONS
    assert totals["bot_messages"] == totals["user_messages"] + DEMO_CONVERSATIONS
    assert 4 <= totals["unique_end_users"] <= 12
    assert 0.5 < totals["answered_rate"] < 1
    assert totals["answered_rate"] + totals["fallback_rate"] == pytest.approx(1)
    busy_days = [p for p in response.json()["series"] if p["conversations"] > 0]
    assert len(busy_days) >= 5
